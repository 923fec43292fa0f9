"""The heartbeat group commit (control/heartbeats.py): idle polls answered exactly, in batches,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from huangpu.control.heartbeats import HeartbeatQueue, _Beat
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import Node
from huangpu.core.states import JobState
from huangpu.store import jobs as job_repo
from huangpu.store import registry
from huangpu.store.db import Database, connect
from huangpu.store.models import AgentRow, JobRow
from huangpu.testing.builders import inventory

T0 = 1_000.0


@dataclass
class World:
    db: Database
    pools: tuple[str, str]
    agents: dict[str, str]  # name -> id
    org: str

    def last_seen(self, name: str) -> float:
        with self.db.read() as s:
            row = s.get(AgentRow, self.agents[name])
            assert row is not None
            return row.last_seen

    def schedule_on(self, name: str) -> str:
        spec = JobSpec.model_validate({"name": "j", "command": "true"})
        with self.db.write() as s:
            row = job_repo.insert_job(s, self.org, spec, T0)
            row.state, row.agent_id = JobState.SCHEDULED.value, self.agents[name]
            return row.id


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    db = connect(database_url)
    with db.write() as s:
        org = registry.create_org(s, "acme", "startup", T0).id
        registry.create_supplier(s, "sup", T0)
        pools = tuple(
            registry.create_pool(s, name, "sup", "sh", "local", T0).id for name in ("p1", "p2")
        )
        agents = {}
        for name, pool in (("a", pools[0]), ("b", pools[0]), ("c", pools[1])):
            nodes = [Node.model_validate(n) for n in inventory("a100", 1, prefix=name)["nodes"]]
            agents[name] = registry.upsert_agent(s, pool, name, "local", nodes, T0).id
    try:
        yield World(db, (pools[0], pools[1]), agents, org)
    finally:
        db.dispose()


def test_an_idle_beat_writes_last_seen_before_it_answers(world: World) -> None:
    beats = HeartbeatQueue(world.db)
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 7).result(timeout=10) is True
    assert world.last_seen("a") == T0 + 7
    assert world.last_seen("b") == T0  # only the agent that beat


def test_a_fresh_last_seen_is_not_rewritten(world: World) -> None:
    beats = HeartbeatQueue(world.db, fresh_seconds=5.0)
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 4).result(timeout=10) is True
    assert world.last_seen("a") == T0
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 6).result(timeout=10) is True
    assert world.last_seen("a") == T0 + 6


def test_last_seen_never_moves_back(world: World) -> None:
    with world.db.write() as s:
        s.execute(update(AgentRow).values(last_seen=T0 + 100))
    beats = HeartbeatQueue(world.db)
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 50).result(timeout=10) is True
    assert world.last_seen("a") == T0 + 100


def test_anything_but_plainly_idle_takes_the_full_path(world: World) -> None:
    beats = HeartbeatQueue(world.db)
    # Another pool's agent, and an unknown one: the full poll raises the right error.
    assert beats.beat(world.pools[0], world.agents["c"], T0 + 1).result(timeout=10) is False
    assert beats.beat(world.pools[0], "agent_nope", T0 + 1).result(timeout=10) is False
    assert world.last_seen("c") == T0
    # Work waiting: a lease to take, then a cancel to pass on.
    job = world.schedule_on("a")
    assert beats.check(world.agents["a"]).result(timeout=10) is True
    assert beats.check(world.agents["b"]).result(timeout=10) is False
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 1).result(timeout=10) is False
    with world.db.write() as s:
        s.execute(
            update(JobRow)
            .where(JobRow.id == job)
            .values(state=JobState.RUNNING.value, cancel_requested=True)
        )
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 2).result(timeout=10) is False
    with world.db.write() as s:
        s.execute(update(JobRow).where(JobRow.id == job).values(state=JobState.CANCELLED.value))
    assert beats.beat(world.pools[0], world.agents["a"], T0 + 3).result(timeout=10) is True


def test_beats_that_queue_up_share_one_transaction(world: World) -> None:
    class Gated(HeartbeatQueue):
        """Holds its first batch until released, so the rest queue up behind it."""

        def __init__(self, db: Database) -> None:
            self.sizes: list[int] = []
            self.gate, self.entered = threading.Event(), threading.Event()
            super().__init__(db)

        def _answer(self, batch: list[_Beat]) -> list[bool]:
            self.sizes.append(len(batch))
            self.entered.set()
            self.gate.wait(10)
            return super()._answer(batch)

    beats = Gated(world.db)
    first = beats.beat(world.pools[0], world.agents["a"], T0 + 1)
    assert beats.entered.wait(10)
    rest = [
        beats.beat(world.pools[pool], world.agents[name], T0 + 2 + i)
        for i, (name, pool) in enumerate([("a", 0), ("b", 0), ("b", 1), ("c", 1)] * 10)
    ]
    rest.append(beats.check(world.agents["a"]))
    beats.gate.set()
    assert first.result(timeout=10) is True
    answers = [f.result(timeout=10) for f in rest]
    assert beats.sizes == [1, 41]
    assert answers[:4] == [True, True, False, True]  # b on pool p2's token: the full path
    assert answers[-1] is False  # the check: no work for a
    assert world.last_seen("a") == world.last_seen("b") == T0 + 41  # the batch's newest
    assert world.last_seen("c") == T0 + 41
    beats.close()


def test_a_sweep_answers_many_agents_in_one_read(world: World) -> None:
    beats = HeartbeatQueue(world.db)
    world.schedule_on("b")
    many = [world.agents["a"], world.agents["b"], *(f"agent_x{i}" for i in range(2500))]
    assert beats.sweep(many).result(timeout=10) == {world.agents["b"]}  # over SQLITE_CHUNK
    assert beats.sweep([world.agents["c"]]).result(timeout=10) == set()
    assert beats.sweep([]).result(timeout=10) == set()


def test_a_cancelled_caller_does_not_stop_the_writer(world: World) -> None:
    class Gated(HeartbeatQueue):
        def __init__(self, db: Database) -> None:
            self.gate = threading.Event()
            super().__init__(db)

        def _answer(self, batch: list[_Beat]) -> list[bool]:
            self.gate.wait(10)
            return super()._answer(batch)

    beats = Gated(world.db)
    first = beats.beat(world.pools[0], world.agents["a"], T0 + 1)
    given_up = beats.check(world.agents["a"])
    swept = beats.sweep([world.agents["a"]])
    assert given_up.cancel() and swept.cancel()  # as asyncio.wrap_future does for a request
    beats.gate.set()
    assert first.result(timeout=10) is True
    assert beats.beat(world.pools[0], world.agents["b"], T0 + 2).result(timeout=10) is True
    beats.close()
