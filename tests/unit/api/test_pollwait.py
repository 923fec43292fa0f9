"""The waiting list of long-polls (huangpu.api.pollwait): one sweep per tick for every waiting
poll, only polls with work woken, deadlines, clients that went away, shutdown; and the router
on it (a waiting poll gets work scheduled while it waits, an idle one answers at its deadline)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huangpu.api.pollwait import PollWaits
from huangpu.api.routers.agent import _disconnect, waits_for
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import JobState
from huangpu.store import jobs as job_repo
from huangpu.store.models import JobRow, OrgRow
from huangpu.testing.inproc import InProcessApi
from tests.aio import run_async

STEP = 0.02


class Sweeps:
    """A fake HeartbeatQueue.sweep: records each call's ids, answers ``busy``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.busy: set[str] = set()
        self.error: Exception | None = None

    def __call__(self, agent_ids: list[str]) -> Future[set[str]]:
        self.calls.append(sorted(agent_ids))
        done: Future[set[str]] = Future()
        if self.error is not None:
            done.set_exception(self.error)
        else:
            done.set_result(self.busy & set(agent_ids))
        return done


def test_many_waiters_share_one_sweep_per_tick_and_only_those_with_work_wake() -> None:
    sweeps = Sweeps()
    waits = PollWaits(sweeps, STEP)

    async def scenario() -> None:
        deadline = time.monotonic() + 30
        ids = [f"agent_{i:03}" for i in range(200)]
        start = time.monotonic()
        tasks = [asyncio.create_task(waits.wait(a, deadline)) for a in ids]
        # the same agent twice (a retried poll): both are woken
        tasks.append(asyncio.create_task(waits.wait("agent_007", deadline)))
        await asyncio.sleep(STEP * 5.5)
        assert waits.waiting() == 201
        # one sweep a tick for all of them, not one per waiter
        assert 1 <= len(sweeps.calls) <= (time.monotonic() - start) / STEP + 1
        assert all(call == ids for call in sweeps.calls)
        sweeps.busy = {"agent_007", "agent_150", "agent_nobody"}
        await asyncio.wait(tasks, timeout=STEP * 10, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(STEP / 2)
        woken = [i for i, t in enumerate(tasks) if t.done()]
        assert woken == [7, 150, 200]
        assert all(tasks[i].result() is True for i in woken)
        assert waits.waiting() == 198
        waits.close()
        results = await asyncio.gather(*(t for i, t in enumerate(tasks) if i not in woken))
        assert results == [False] * 198  # shutdown: "nothing for you"
        assert waits.waiting() == 0

    run_async(scenario)


def test_a_poll_leaves_at_its_deadline_and_the_task_stops_when_none_wait() -> None:
    sweeps = Sweeps()
    waits = PollWaits(sweeps, STEP)

    async def scenario() -> None:
        start = time.monotonic()
        short = asyncio.create_task(waits.wait("a", start + STEP * 3))
        long = asyncio.create_task(waits.wait("b", start + STEP * 8))
        assert await short is False
        took = time.monotonic() - start
        assert STEP * 3 <= took < STEP * 3 + 0.5  # at most about a step late
        assert waits.waiting() == 1
        assert await long is False
        await asyncio.sleep(STEP * 2)
        assert waits.waiting() == 0
        assert all(t.get_name() != "poll-waits" for t in asyncio.all_tasks())
        asked = len(sweeps.calls)
        await asyncio.sleep(STEP * 3)
        assert len(sweeps.calls) == asked  # nobody waits: no sweeps
        # a past deadline does not wait at all; a new waiter starts the task again
        assert await waits.wait("c", time.monotonic()) is False
        sweeps.busy = {"d"}
        assert await waits.wait("d", time.monotonic() + 5) is True
        assert sweeps.calls[-1] == ["d"]

    run_async(scenario)


def test_a_client_that_went_away_leaves_the_list_at_once() -> None:
    sweeps = Sweeps()
    waits = PollWaits(sweeps, STEP)

    async def scenario() -> None:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stays = asyncio.create_task(waits.wait("a", time.monotonic() + 30))
        leaves = asyncio.create_task(waits.wait("b", time.monotonic() + 30, gone))
        await asyncio.sleep(STEP * 2.5)
        assert waits.waiting() == 2
        gone.set_result(None)
        assert await asyncio.wait_for(leaves, STEP) is False
        assert waits.waiting() == 1
        await asyncio.sleep(STEP * 2)
        assert sweeps.calls[-1] == ["a"]
        assert await waits.wait("b", time.monotonic() + 30, gone) is False  # already gone
        stays.cancel()  # a cancelled request leaves the list too
        await asyncio.gather(stays, return_exceptions=True)
        assert waits.waiting() == 0

    run_async(scenario)


def test_a_failed_sweep_fails_the_polls_it_was_for() -> None:
    sweeps = Sweeps()
    sweeps.error = RuntimeError("database gone")
    waits = PollWaits(sweeps, STEP)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="database gone"):
            await waits.wait("a", time.monotonic() + 30)
        assert waits.waiting() == 0

    run_async(scenario)


def test_the_disconnect_listener_ends_only_on_http_disconnect() -> None:
    messages = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]

    async def receive() -> Any:
        await asyncio.sleep(0)
        return messages.pop(0)

    run_async(lambda: asyncio.wait_for(_disconnect(receive), 1))
    assert messages == []


# -- the router on the waiting list ----------------------------------------------------------


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[InProcessApi]:
    a = InProcessApi(tmp_path, database_url)
    a.platform.agents.poll_timeout = 5.0
    a.tenant = a.add_org("acme")
    a.add_pool("p1")
    yield a
    a.platform.agents.heartbeats.close()
    a.close()


def schedule_on(api: InProcessApi, agent_id: str) -> str:
    spec = JobSpec.model_validate({"name": "j", "command": "true"})
    with api.db.write() as s:
        org = s.scalars(select(OrgRow.id)).one()
        row = job_repo.insert_job(s, org, spec, api.clock.now())
        row.state, row.agent_id = JobState.SCHEDULED.value, agent_id
        return row.id


def test_a_waiting_poll_gets_the_lease_scheduled_while_it_waits(api: InProcessApi) -> None:
    token, agent = api.agents["p1"]
    timer = threading.Timer(0.5, lambda: jobs.append(schedule_on(api, agent)))
    jobs: list[str] = []
    start = time.monotonic()
    timer.start()
    try:
        body = {"agent_id": agent, "wait_seconds": 5, "features": ["preempt", "backlog"]}
        answer = api.ok("POST", "/v1/agent/poll", token, json=body)
    finally:
        timer.cancel()
    took = time.monotonic() - start
    assert [lease["job_id"] for lease in answer["leases"]] == jobs
    assert 0.5 <= took < 4.5  # woken well before its 5 s deadline
    with api.db.read() as s:
        row = s.get(JobRow, jobs[0])
        assert row is not None and row.state == JobState.STARTING.value


def test_an_idle_waiting_poll_answers_nothing_at_its_deadline(api: InProcessApi) -> None:
    token, agent = api.agents["p1"]
    start = time.monotonic()
    answer = api.ok("POST", "/v1/agent/poll", token, json={"agent_id": agent, "wait_seconds": 0.6})
    took = time.monotonic() - start
    assert answer == {"leases": [], "cancel": [], "stop": []}
    assert 0.6 <= took < 3.0
    assert isinstance(waits_for(api.app), PollWaits)
