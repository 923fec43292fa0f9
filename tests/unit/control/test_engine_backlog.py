"""Engine backlog (control/backlog.py): a Slurm or Ray pool takes a bounded number of jobs
beyond its free devices; they hold no allocation until their engine starts them.

Server side only, in one process on a SQLite file, with a manual clock and the agent
protocol spoken by hand (as tests/unit/control/test_platform_flow.py does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st
from sqlalchemy import func, select

from huangpu.control.backlog import default_bound
from huangpu.core.states import HOLDS_DEVICES
from huangpu.store.ledger_models import MeteringCursorRow
from huangpu.store.models import AllocationRow, JobRow
from tests.unit.control.inprocess import LEASE, InProcessPlatform

FEATURES = ["preempt", "backlog"]


class World(InProcessPlatform):
    """One pool of ``devices`` 910B2 NPUs behind one agent, on executor ``executor``."""

    def __init__(
        self, tmp: Path, devices: int = 2, executor: str = "slurm", bound: int | None = None
    ) -> None:
        super().__init__(tmp)
        self.post("/v1/orgs", self.op, {"name": "acme", "category": "startup"})
        self.post("/v1/suppliers", self.op, {"name": "hpc"})
        self.tenant = self.post("/v1/tokens", self.op, {"role": "tenant", "org": "acme"})["token"]
        pool: dict[str, Any] = {"name": "p", "supplier": "hpc", "region": "sh"}
        pool["executor"] = executor
        if bound is not None:
            pool["engine_backlog"] = bound
        self.pool = self.post("/v1/pools", self.op, pool)
        self.token = self.post("/v1/tokens", self.op, {"role": "agent", "pool": "p"})["token"]
        nodes = [
            {
                "name": "n0",
                "devices": [
                    {"index": i, "chip": "910b2", "memory_gib": 64} for i in range(devices)
                ],
            }
        ]
        reg = self.post(
            "/v1/agent/register",
            self.token,
            {"agent_name": "a1", "nodes": nodes, "executor": executor},
        )
        self.agent_id = reg["agent_id"]
        self.seq = 0
        self.devices = devices

    def poll(self, running: list[dict[str, Any]], features: list[str] = FEATURES) -> Any:
        body = {"agent_id": self.agent_id, "running": running, "wait_seconds": 0}
        return self.post("/v1/agent/poll", self.token, body | {"features": features})

    def report(self, events: list[dict[str, Any]]) -> Any:
        self.seq += 1
        body = {"agent_id": self.agent_id, "seq": self.seq, "events": events}
        return self.post("/v1/agent/report", self.token, body)

    def submit(self, n: int = 1) -> list[str]:
        spec = {"name": "job", "command": "true", "resources": {"chips": ["910b2"]}}
        return [str(self.post("/v1/jobs", self.tenant, {"spec": spec})["id"]) for _ in range(n)]

    def jobs(self) -> dict[str, tuple[str, int, int]]:
        """job id -> (state, attempt, devices held)."""
        with self.db.read() as s:
            held = dict(
                s.execute(
                    select(AllocationRow.job_id, func.count()).group_by(AllocationRow.job_id)
                ).all()
            )
            return {
                r.id: (r.state, r.attempt, int(held.get(r.id, 0)))
                for r in s.scalars(select(JobRow))
            }

    def unallocated(self) -> int:
        """Jobs placed on the pool (SCHEDULED, STARTING, RUNNING) holding no devices."""
        states = {s.value for s in HOLDS_DEVICES}
        return sum(1 for st_, _, n in self.jobs().values() if st_ in states and n == 0)

    def check(self, bound: int) -> None:
        """The invariants: the backlog never exceeds its bound, no device is held twice or by
        a job that no longer runs, and no more devices are held than exist."""
        jobs = self.jobs()
        assert self.unallocated() <= bound
        with self.db.read() as s:
            rows = s.execute(
                select(AllocationRow.device_id, AllocationRow.job_id, AllocationRow.attempt)
            ).all()
        assert len({d for d, _, _ in rows}) == len(rows) <= self.devices
        states = {s.value for s in HOLDS_DEVICES}
        for _, job, attempt in rows:
            assert jobs[job][0] in states and jobs[job][1] == attempt


def ref(lease: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": lease["job_id"], "attempt": lease["attempt"]}


def started(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "kind": "started", "engine_id": f"slurm:{r['job_id']}", "at": 1.0}


def exited(r: dict[str, Any], outcome: str = "succeeded") -> dict[str, Any]:
    return {**r, "kind": "exited", "outcome": outcome, "exit_code": 0, "at": 2.0}


def running(leases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**ref(lease), "engine_id": f"slurm:{lease['job_id']}"} for lease in leases]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.db.dispose()


def test_default_bound_is_the_device_count_for_engine_pools_only() -> None:
    assert default_bound("slurm", None, 8) == 8
    assert default_bound("ray", None, 4) == 4
    assert default_bound("local", None, 8) == 0
    assert default_bound("kubernetes", None, 8) == 0
    assert default_bound("local", 3, 8) == 0  # it would start them all at once
    assert default_bound("slurm", 3, 8) == 3
    assert default_bound("slurm", 0, 8) == 0


def test_engine_pool_takes_its_bound_beyond_the_free_devices(world: World) -> None:
    world.submit(10)
    for _ in range(3):
        world.scheduler.run_once()
    jobs = world.jobs()
    scheduled = [j for j, (s, _, _) in jobs.items() if s == "SCHEDULED"]
    assert len(scheduled) == 4  # 2 on devices, 2 in the engine's backlog
    assert sorted(n for j, (_, _, n) in jobs.items() if j in scheduled) == [0, 0, 1, 1]
    leases = world.poll([])["leases"]
    assert len(leases) == 4
    queued = [lease for lease in leases if lease["queued"]]
    assert len(queued) == 2
    assert all(q["devices"] == [] and q["chip"] == "910b2" for q in queued)
    assert all(not lease["queued"] and len(lease["devices"]) == 1 for lease in leases
               if lease not in queued)  # fmt: skip
    world.scheduler.run_once()
    assert world.unallocated() == 2  # STARTING now, still counted: no more placed
    world.check(bound=2)


def test_bound_zero_and_local_pools_take_no_backlog(tmp_path: Path) -> None:
    for executor, bound in (("slurm", 0), ("local", None)):
        w = World(tmp_path / executor, executor=executor, bound=bound)
        w.submit(5)
        w.scheduler.run_once()
        w.scheduler.run_once()
        assert sorted(s for s, _, _ in w.jobs().values()).count("SCHEDULED") == 2
        assert w.unallocated() == 0
        w.db.dispose()


def test_backlog_job_gets_devices_when_started_whatever_the_event_order(world: World) -> None:
    world.submit(4)
    world.scheduler.run_once()
    leases = world.poll([])["leases"]
    first, second = [ref(x) for x in leases if not x["queued"]]
    q1, q2 = [ref(x) for x in leases if x["queued"]]
    world.report([started(first), started(second)])
    # Slurm starts q1 as soon as `first` ends; the agent sees the start first: no device
    # is free in the books yet, so q1 runs without one until the exit is reported
    world.report([started(q1)])
    jobs = world.jobs()
    assert jobs[q1["job_id"]][0] == "RUNNING" and jobs[q1["job_id"]][2] == 0
    world.report([exited(first)])
    assert world.jobs()[q1["job_id"]][2] == 1
    # both in one report, Started listed first: settled all the same
    world.report([started(q2), exited(second)])
    jobs = world.jobs()
    assert jobs[q2["job_id"]][:3:2] == ("RUNNING", 1)
    with world.db.read() as s:
        cursors = {c.job_id: c.devices for c in s.scalars(select(MeteringCursorRow))}
    assert cursors[q1["job_id"]] == cursors[q2["job_id"]] == 1  # metered from their start
    world.check(bound=2)


def test_free_devices_wait_for_the_backlog_not_for_newcomers(world: World) -> None:
    world.submit(6)
    world.scheduler.run_once()
    leases = world.poll([])["leases"]
    first = [ref(x) for x in leases if not x["queued"]]
    world.report([started(r) for r in first])
    world.report([exited(first[0])])  # a device is free in the books
    world.scheduler.run_once()
    # ... but a queued job will take it when Slurm starts it: nothing new is placed on it
    jobs = world.jobs()
    assert sum(1 for s, _, n in jobs.values() if s == "SCHEDULED" and n) == 0
    world.check(bound=2)


def test_settle_in_the_scheduler_cycle_after_a_lost_job_frees_a_device(world: World) -> None:
    world.submit(3)
    world.scheduler.run_once()
    leases = world.poll([])["leases"]
    on_devices = [ref(x) for x in leases if not x["queued"]]
    (queued,) = [ref(x) for x in leases if x["queued"]]
    world.report([started(r) for r in on_devices] + [started(queued)])
    assert world.jobs()[queued["job_id"]][2] == 0
    # the agent keeps renewing the queued job only; the other two leases expire
    world.clock.advance(LEASE / 2)
    world.poll([{**queued, "engine_id": "slurm:x"}])
    world.clock.advance(LEASE / 2 + 1)
    world.poll([{**queued, "engine_id": "slurm:x"}])
    world.scheduler.run_once()  # reaps the two, then settles the queued one
    assert world.jobs()[queued["job_id"]][:3:2] == ("RUNNING", 1)
    world.check(bound=2)


def test_queued_job_can_be_cancelled_and_is_requeued_when_its_lease_expires(
    world: World,
) -> None:
    world.submit(4)
    world.scheduler.run_once()
    leases = world.poll([])["leases"]
    q1, q2 = [ref(x) for x in leases if x["queued"]]
    others = [x for x in leases if not x["queued"]]
    assert world.post(f"/v1/jobs/{q1['job_id']}/cancel", world.tenant, {})["state"] == "STARTING"
    assert q1 in world.poll(running(leases))["cancel"]
    world.report([exited(q1, "cancelled")])
    assert world.jobs()[q1["job_id"]] == ("CANCELLED", 1, 0)
    # q2's agent stops renewing it (say Slurm lost it): LOST, requeued as PENDING
    world.clock.advance(LEASE + 1)
    world.poll(running(others))
    world.scheduler.run_once()
    assert world.jobs()[q2["job_id"]][0] in {"PENDING", "SCHEDULED"}
    world.check(bound=2)


def test_an_agent_without_the_feature_gets_no_backlog_lease(world: World) -> None:
    world.submit(4)
    world.scheduler.run_once()
    leases = world.poll([], features=["preempt"])["leases"]
    assert len(leases) == 2 and not any(x["queued"] for x in leases)
    states = sorted(s for s, _, _ in world.jobs().values())
    assert states == ["PENDING", "PENDING", "STARTING", "STARTING"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bound=st.integers(0, 3),
    steps=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "submit",
                    "cycle",
                    "cycle",
                    "poll",
                    "poll",
                    "start",
                    "start",
                    "exit",
                    "cancel",
                    "expire",
                ]
            ),
            st.integers(0, 7),
        ),
        min_size=8,
        max_size=25,
    ),
)
def test_backlog_never_exceeds_its_bound_nor_gives_a_device_twice(
    tmp_path_factory: pytest.TempPathFactory, bound: int, steps: list[tuple[str, int]]
) -> None:
    w = World(tmp_path_factory.mktemp("w"), devices=3, bound=bound)
    leased: dict[str, dict[str, Any]] = {}  # job id -> ref, as the agent tracks them
    fullest = 0
    try:
        for action, pick in steps:
            jobs = w.jobs()
            if action == "submit":
                w.submit(1 + pick % 3)
                w.scheduler.run_once()
            elif action == "cycle":
                w.scheduler.run_once()
            elif action == "poll":
                answer = w.poll(running(list(leased.values())))
                for lease in answer["leases"]:
                    leased[lease["job_id"]] = ref(lease)
                for gone in answer["stop"] + answer["cancel"]:
                    if gone in leased.values():
                        w.report([exited(gone, "cancelled")])
                        leased.pop(gone["job_id"], None)
            elif action in {"start", "exit"} and leased:
                r = list(leased.values())[pick % len(leased)]
                state = jobs[r["job_id"]][0]
                if action == "start" and state == "STARTING":
                    w.report([started(r)])
                elif action == "exit":
                    w.report([exited(r)])
                    leased.pop(r["job_id"])
            elif action == "cancel" and jobs:
                job = sorted(jobs)[pick % len(jobs)]
                answer = w.client.post(
                    f"/v1/jobs/{job}/cancel",
                    json={},
                    headers={"Authorization": f"Bearer {w.tenant}"},
                )
                assert answer.status_code < 500, answer.text
            elif action == "expire":
                w.clock.advance(LEASE + 1)
                leased.clear()  # the agent is gone; its jobs will be reaped
            w.check(bound)
            fullest = max(fullest, w.unallocated())
        target(float(fullest))  # steer towards full backlogs
    finally:
        w.db.dispose()
