"""Runtime estimates from history (control/runtime_history.py) for jobs without
``estimated_hours``: the table read from real rows (SQLite and PostgreSQL), and what the live
scheduler does with it (backfill), with a manual clock and no agent process."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from huangpu.control.loop import Scheduler
from huangpu.control.runtime_history import (
    WINDOW_S,
    RuntimeHistory,
    percentile,
    run_samples,
    runtime_key,
)
from huangpu.control.sched_context import load_context
from huangpu.control.snapshots import SchedulingContext, build_snapshot
from huangpu.core.clock import ManualClock
from huangpu.core.domain import Device, Node
from huangpu.core.jobspec import JobSpec, jobspec_from_dict
from huangpu.scheduling import PendingReason
from huangpu.store import jobs as job_repo
from huangpu.store import registry
from huangpu.store.db import Database, connect
from huangpu.store.inventory import devices
from huangpu.store.models import AllocationRow, DeviceRow, JobEventRow, JobRow

NOW = 1_764_000_000.0
HOUR = 3600.0
LEASE = 3600.0
_ids = count()


def spec(accelerators: int = 4, kind: str = "train", **extra: Any) -> JobSpec:
    return jobspec_from_dict(
        {
            "name": "j",
            "command": "true",
            "kind": kind,
            "resources": {"accelerators": accelerators, "chips": ["a100"]},
            **extra,
        }
    )


class Store:
    """One org, one pool with one 8×A100 node, and rows written as the platform writes them."""

    def __init__(self, url: str) -> None:
        self.db: Database = connect(url)
        with self.db.write() as s:
            self.org = registry.create_org(s, "acme", "startup", NOW - WINDOW_S * 2).id
            self.other = registry.create_org(s, "globex", "startup", NOW - WINDOW_S * 2).id
            registry.create_supplier(s, "telecom", NOW)
            pool = registry.create_pool(s, "p1", "telecom", "sh", "local", NOW)
            devices = [Device(index=i, chip="a100", memory_gib=80) for i in range(8)]
            agent = registry.upsert_agent(
                s, pool.id, "a1", "local", [Node(name="n0", devices=devices)], NOW
            )
            self.pool, self.agent = pool.id, agent.id

    def job(
        self,
        events: list[tuple[int, str, float]],
        state: str = "SUCCEEDED",
        org: str | None = None,
        job_spec: JobSpec | None = None,
        **columns: Any,
    ) -> str:
        """A job whose history is ``events`` (attempt, to state, at) after its submission; its
        row is in ``state``, last changed at the last event."""
        job_spec = job_spec or spec()
        job_id = f"job_{next(_ids):06d}"
        times = [at for _, _, at in events] or [NOW]
        row = JobRow(
            id=job_id,
            org_id=org or self.org,
            name="j",
            kind=job_spec.kind.value,
            spec=job_spec.model_dump(mode="json"),
            state=state,
            priority=job_spec.priority,
            attempt=max(a for a, _, _ in events),
            created_at=min(times) - 60,
            updated_at=max(times),
            **columns,
        )
        with self.db.write() as s:
            s.add(row)
            s.flush()
            for attempt, to_state, at in events:
                s.add(JobEventRow(job_id=job_id, to_state=to_state, attempt=attempt, at=at))
        return job_id

    def succeeded(self, hours: float, ended: float = NOW - HOUR, **kw: Any) -> str:
        """A job that ran ``hours`` and succeeded at ``ended``, on its first attempt."""
        start = ended - hours * HOUR
        return self.job(
            [(1, "SCHEDULED", start - 30), (1, "STARTING", start - 20), (1, "RUNNING", start),
             (1, "SUCCEEDED", ended)],
            **kw,
        )  # fmt: skip

    def running(self, job_spec: JobSpec, started: float, devices: int) -> str:
        """A RUNNING job holding the first ``devices`` free devices of the node."""
        job_id = self.job([(1, "RUNNING", started)], state="RUNNING", job_spec=job_spec,
                          agent_id=self.agent, pool_id=self.pool,
                          lease_expires_at=NOW + 100 * LEASE)  # fmt: skip
        with self.db.write() as s:
            free = select(DeviceRow.id).where(DeviceRow.id.not_in(select(AllocationRow.device_id)))
            taken = s.scalars(free.order_by(DeviceRow.idx).limit(devices)).all()
            job_repo.allocate(s, job_id, 1, taken)
        return job_id

    def estimates(self, now: float = NOW) -> dict[tuple[str, str, int, int], float]:
        with self.db.read() as s:
            return RuntimeHistory().get(s, now)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.db.dispose()


def test_percentile_is_a_high_nearest_rank() -> None:
    assert percentile([float(i) for i in range(10, 0, -1)]) == 9.0
    assert percentile([1.0, 2.0, 3.0]) == 3.0  # with few samples, the longest
    assert percentile([5.0]) == 5.0


def test_p90_of_the_latest_fifty_and_at_least_three_samples(store: Store) -> None:
    key = runtime_key(store.org, "train", 4, 1)
    # 60 runs: the 10 oldest took 100 h, the 50 latest 1..50 minutes (newest shortest).
    for i in range(60):
        hours = 100.0 if i < 10 else (60 - i) / 60
        store.succeeded(hours, ended=NOW - 3 * HOUR - (60 - i) * 60)
    # Another shape of the same org, and another org, with too few runs to say anything.
    for hours in (1.0, 2.0):
        store.succeeded(hours, job_spec=spec(accelerators=8))
        store.succeeded(hours, org=store.other)
    # Failed and cancelled runs say nothing about how long a successful one takes.
    for _ in range(3):
        store.job([(1, "RUNNING", NOW - 2 * HOUR), (1, "FAILED", NOW - HOUR)], state="FAILED")
    got = store.estimates()
    # Only the 50 latest count: the 45th shortest of 1..50 minutes is 45 minutes.
    assert got == {key: pytest.approx(45 * 60)}
    # The third run of a shape makes an estimate: with three, the longest.
    store.succeeded(0.5, job_spec=spec(accelerators=8))
    eight = runtime_key(store.org, "train", 8, 1)
    assert store.estimates()[eight] == pytest.approx(2 * HOUR)


def test_old_and_broken_rows_are_skipped(store: Store) -> None:
    key = runtime_key(store.org, "train", 4, 1)
    for _ in range(3):
        store.succeeded(10.0, ended=NOW - WINDOW_S - HOUR)  # out of the window
    store.succeeded(1.0)
    store.succeeded(1.0)
    store.job([(1, "STARTING", NOW - 3 * HOUR), (1, "SUCCEEDED", NOW - HOUR)])  # no start
    store.job([(1, "RUNNING", NOW - HOUR), (1, "SUCCEEDED", NOW - 2 * HOUR)])  # negative
    with store.db.read() as s:
        assert run_samples(s, NOW)[key] == [pytest.approx(HOUR)] * 2
    assert store.estimates() == {}  # two good samples: unknown, as without history
    store.succeeded(2.0)
    assert store.estimates() == {key: pytest.approx(2 * HOUR)}


def test_a_resumed_job_counts_all_its_running(store: Store) -> None:
    """Preempted after 3 h, resumed for 1 h: it ran 4 h, not the last hour only."""
    t = NOW - 10 * HOUR
    for _ in range(3):
        store.job(
            [(1, "RUNNING", t), (1, "PREEMPTED", t + 3 * HOUR), (1, "PENDING", t + 3 * HOUR),
             (2, "STARTING", t + 4 * HOUR), (2, "RUNNING", t + 5 * HOUR),
             (2, "SUCCEEDED", t + 6 * HOUR)]
        )  # fmt: skip
    assert store.estimates() == {runtime_key(store.org, "train", 4, 1): pytest.approx(4 * HOUR)}


def test_the_table_is_reread_at_most_once_a_minute(store: Store) -> None:
    history = RuntimeHistory()
    for _ in range(3):
        store.succeeded(1.0)
    with store.db.read() as s:
        first = history.get(s, NOW)
    store.succeeded(5.0)
    with store.db.read() as s:
        assert history.get(s, NOW + 59) is first
        assert history.get(s, NOW + 60) != first


def test_the_tenants_estimate_wins(store: Store) -> None:
    key = runtime_key(store.org, "train", 4, 1)
    ctx = SchedulingContext(orgs=(store.org, store.other), runtime_estimates={key: 1800.0})
    jobs = [
        ("given", spec(estimated_hours=2), 0, 1.0),
        ("history", spec(), 0, 2.0),
        ("other-shape", spec(accelerators=8), 0, 3.0),
        ("other-kind", spec(kind="serve"), 0, 4.0),
        ("other-org", spec(), 1, 5.0),
    ]
    with store.db.read() as s:
        snapshot, _ = build_snapshot(devices(s), jobs, NOW, context=ctx)
    got = dict(zip(snapshot.job_keys, snapshot.job_runtime.tolist(), strict=True))
    assert got["given"] == 7200 and got["history"] == 1800
    assert all(np.isnan(got[k]) for k in ("other-shape", "other-kind", "other-org"))
    # Running jobs: start + the tenant's estimate, else + history's, else never.
    given = store.running(spec(estimated_hours=2), NOW - HOUR, 1)
    guessed = store.running(spec(), NOW - HOUR, 1)
    unknown = store.running(spec(kind="serve"), NOW - HOUR, 1)
    with store.db.read() as s:
        ends = {
            r.job_id: r.expected_end for r in load_context(s, NOW, runtimes={key: 1800.0}).running
        }
        bare = {r.job_id: r.expected_end for r in load_context(s, NOW).running}
    assert ends == {given: NOW + HOUR, guessed: NOW - HOUR + 1800, unknown: float("inf")}
    assert bare == {given: NOW + HOUR, guessed: float("inf"), unknown: float("inf")}


class Loop:
    """The live scheduler over ``store``: one running job holds 4 of the 8 devices; the head
    of the queue wants all 8; behind it a 4-device job waits."""

    def __init__(self, store: Store, running: JobSpec, short: JobSpec) -> None:
        self.store = store
        self.clock = ManualClock(NOW)
        self.scheduler = Scheduler(store.db, self.clock, LEASE, "cost-aware")
        self.runner = store.running(running, NOW - HOUR, 4)
        with store.db.write() as s:
            self.head = job_repo.insert_job(s, store.org, spec(accelerators=8, kind="serve"),
                                            NOW - 30).id  # fmt: skip
            self.short = job_repo.insert_job(s, store.org, short, NOW - 20).id

    def cycle(self) -> dict[str, str]:
        """One full cycle: job id -> its pending reason, or PLACED."""
        self.clock.advance(60)
        report = self.scheduler.run_once()
        got = {p.job_key: "PLACED" for p in report.result.placements}
        return got | {p.job_key: p.reason.name for p in report.result.pending}


def test_history_lets_a_short_job_backfill_ahead_of_the_blocked_head(store: Store) -> None:
    # The running job ends in an hour (its tenant said so): the head is reserved for then.
    loop = Loop(store, spec(estimated_hours=2), spec())
    assert loop.cycle() == {
        loop.head: PendingReason.WAITING_FOR_CAPACITY.name,
        loop.short: PendingReason.RESERVED_FOR_EARLIER_JOB.name,  # no estimate: "long"
    }
    # Such jobs of this org took 20 to 30 minutes lately: it ends before the head's turn.
    # (Rows without a start, or ending before it, are skipped, and break nothing.)
    for minutes in (20, 30, 25):
        store.succeeded(minutes / 60)
    store.job([(1, "STARTING", NOW - 3 * HOUR), (1, "SUCCEEDED", NOW - HOUR)])
    store.job([(1, "RUNNING", NOW - HOUR), (1, "SUCCEEDED", NOW - 9 * HOUR)])
    assert loop.cycle() == {loop.head: PendingReason.WAITING_FOR_CAPACITY.name,
                            loop.short: "PLACED"}  # fmt: skip
    with store.db.read() as s:
        assert s.get(JobRow, loop.short).state == "SCHEDULED"  # type: ignore[union-attr]
        held = s.scalars(select(AllocationRow.job_id)).all()
    assert sorted(held) == sorted([loop.runner] * 4 + [loop.short] * 4)


def test_history_gives_a_running_job_an_end_so_the_head_gets_its_reservation(
    store: Store,
) -> None:
    # The running job gave no estimate: the head has no time to be reserved for, so a long
    # job behind it takes the free devices (and may delay the head without bound).
    for minutes in (60, 90, 120):
        store.succeeded(minutes / 60, job_spec=spec(kind="finetune"))
    loop = Loop(store, spec(kind="finetune"), spec(kind="batch-infer"))
    assert loop.cycle() == {loop.head: PendingReason.WAITING_FOR_CAPACITY.name,
                            loop.short: PendingReason.RESERVED_FOR_EARLIER_JOB.name}  # fmt: skip
    with store.db.read() as s:
        (running,) = load_context(s, loop.clock.now(), runtimes=loop.scheduler.runtimes.get(
            s, loop.clock.now())).running  # fmt: skip
    assert running.expected_end == NOW - HOUR + 2 * HOUR  # started an hour ago, p90 of 2 h


def test_without_history_the_long_job_is_not_held_back(store: Store) -> None:
    loop = Loop(store, spec(kind="finetune"), spec(kind="batch-infer"))
    got = loop.cycle()
    assert got[loop.short] == "PLACED"
    assert got[loop.head] == PendingReason.WAITING_FOR_CAPACITY.name
