"""The scheduler loop: reap leases, snapshot the store, run one pure cycle, apply decisions.

Each placement is applied in its own transaction with compare-and-set moves
PENDING → ADMITTED → SCHEDULED; the allocations table's primary key (one row per device)
makes giving a device twice impossible even if two schedulers raced.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huangpu.control import admission, backlog
from huangpu.control.incremental import Incremental
from huangpu.control.leader import LeaderGate, leadership_for
from huangpu.control.metering import Metering, open_cursor
from huangpu.control.preemptions import apply_preemptions
from huangpu.control.reaper import LeaseReaper, ReapStats
from huangpu.control.runtime_history import RuntimeHistory
from huangpu.control.sched_context import FairShareUsage, load_context
from huangpu.control.sched_metrics import SchedulerMetrics
from huangpu.control.snapshots import NodeIndex, SchedulingContext, build_snapshot
from huangpu.control.spec_cache import SpecCache
from huangpu.core.clock import Clock, SystemClock
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import JobState
from huangpu.scheduling import CellPolicy, get_policy, run_cycle
from huangpu.scheduling.result import CycleResult, Placement
from huangpu.settings import Settings
from huangpu.store import jobs as job_repo
from huangpu.store.db import Database, connect
from huangpu.store.inventory import DeviceView, devices
from huangpu.store.models import JobRow

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    reaped: ReapStats
    result: CycleResult
    applied: int
    seconds: float


class Scheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        lease_seconds: float,
        policy: str,
        half_life_s: float = 7 * 86400.0,
        full_every_s: float = 10.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.policy = policy
        self.reaper = LeaseReaper(db, clock, lease_seconds)
        self.specs = SpecCache()
        self.fair_share = FairShareUsage(half_life_s)
        self.runtimes = RuntimeHistory()  # estimates for jobs without estimated_hours
        self.incremental = Incremental(full_every_s)
        # The cell engine shows budget stops as BUDGET_EXHAUSTED; first-fit knows none, so for
        # it the loop keeps those jobs out of the queue itself.
        self.knows_budgets = isinstance(get_policy(policy), CellPolicy)

    def run_once(self) -> CycleReport:
        started = time.perf_counter()
        reaped = self.reaper.run_once()
        self._settle()
        # 1. snapshot: devices of agents seen within one lease, and the pending queue
        now = self.clock.now()
        with self.db.read() as session:
            inventory = devices(session, online_since=now - self.lease_seconds)
            # Engine backlog (control/backlog.py): free devices that queued jobs will take
            # as their engine starts them are not offered again.
            queues = backlog.backlog_state(session, inventory)
            everything, inventory = inventory, backlog.hide_reserved(inventory, queues)
            rows = session.execute(
                # A job queues from when it last became PENDING: a preempted or lost job goes
                # behind those waiting (Kueue's eviction timestamp), so the job it was
                # preempted for is not overtaken by it.
                select(JobRow.id, JobRow.org_id, JobRow.updated_at, JobRow.reason)
                .where(JobRow.state == JobState.PENDING.value)
                .order_by(JobRow.created_at)
            ).all()
            specs = self.specs.specs(session, [r.id for r in rows])
            # Orgs out of cash or over their monthly budget wait, with the reason shown.
            stopped = admission.blocked(session, {r.org_id for r in rows}, now)
            queued = [r for r in rows if self.knows_budgets or r.org_id not in stopped]
            orgs: dict[str, int] = {}
            for r in queued:
                orgs.setdefault(r.org_id, len(orgs))
            usage = self.fair_share.get(session, now)
            runtimes = self.runtimes.get(session, now)
            context = load_context(session, now, list(orgs), stopped, usage, runtimes)
        full_context, all_queued = context, queued
        # Incremental when nothing was freed since the last cycle: only new arrivals are
        # scheduled, against the carried reservation (control/incremental.py).
        free_now = [d.device_id for d in inventory if not d.allocated]
        quotas = (dict(context.quotas), dict(context.cohorts))
        carried = self.incremental.can_skip(now, free_now, stopped, quotas)
        if carried is not None:
            queued = [r for r in queued if r.id not in carried.waiting]
            context = replace(context, held=carried.reservation)
        queue = [(r.id, specs[r.id], orgs[r.org_id], r.updated_at) for r in queued]
        snapshot, index = build_snapshot(inventory, queue, now, context=context)
        # 2. decide (pure)
        result = run_cycle(snapshot, self.policy)
        # 3. apply placements, each in its own transaction; then ask victims to stop
        applied = sum(self._apply(p, index, now) for p in result.placements)
        placed = {p.job_key for p in result.placements}
        waiting = [(r.id, specs[r.id], orgs[r.org_id], r.updated_at) for r in all_queued
                   if r.id not in placed]  # fmt: skip
        applied += self._fill_backlog(everything, queues, waiting, full_context, now)
        apply_preemptions(self.db, result.preemptions, {r.id: r.org_id for r in rows}, now)
        taken = {index.device_ids[(n, i)] for p in result.placements for n, i in p.devices}
        self.incremental.record(
            now, carried is None, set(free_now) - taken, result, stopped, quotas, carried
        )
        # 4. record why the rest wait, writing only reasons that changed
        old = {r.id: r.reason for r in rows}
        changed = {
            p.job_key: p.explain() for p in result.pending if old.get(p.job_key) != p.explain()
        }
        changed |= {
            r.id: stopped[r.org_id]
            for r in rows
            if r.org_id in stopped and r.reason != stopped[r.org_id] and r.id not in changed
            and not self.knows_budgets
        }  # fmt: skip
        if changed:
            with self.db.write() as session:
                for job_id, reason in changed.items():
                    session.execute(
                        update(JobRow)
                        .where(JobRow.id == job_id, JobRow.state == JobState.PENDING.value)
                        .values(reason=reason)
                    )
        return CycleReport(reaped, result, applied, time.perf_counter() - started)

    def _settle(self) -> None:
        """Devices for backlog jobs the engine started while the books had none free."""
        with self.db.read() as session:
            if not session.scalar(backlog.waiting_for_devices()):
                return
        with self.db.write() as session:
            backlog.settle(session)

    def _fill_backlog(
        self,
        inventory: list[DeviceView],
        queues: dict[str, backlog.PoolBacklog],
        waiting: list[tuple[str, JobSpec, int, float]],
        context: SchedulingContext,
        now: float,
    ) -> int:
        """Second pass: jobs still waiting go to engine pools with backlog room, as if the
        pool were idle (same policy, quotas, prices and placement rules), at most ``room``
        per pool. They hold no devices until their engine starts them."""
        room = {p: q.room for p, q in queues.items() if q.room > 0}
        if not room or not waiting:
            return 0
        # The policy orders by priority; offering it the first jobs of the queue keeps the
        # pass cheap with thousands pending.
        waiting = sorted(waiting, key=lambda j: -j[1].priority)[: max(32, 8 * sum(room.values()))]
        snapshot, index = build_snapshot(
            backlog.backlog_inventory(inventory, queues),
            waiting,
            now,
            context=replace(context, held=None),
        )
        result = run_cycle(snapshot, self.policy)
        applied = 0
        for placement in result.placements:
            pool_id = index.pool_ids[placement.pool_index]
            if room.get(pool_id, 0) <= 0:
                continue
            agent_id = index.node_agent[placement.node_keys[0]]
            if self._apply_backlog(placement.job_key, pool_id, agent_id, now):
                room[pool_id] -= 1
                applied += 1
        return applied

    def _apply_backlog(self, job_id: str, pool_id: str, agent_id: str, now: float) -> bool:
        note = "queued in the engine's backlog (devices when it starts)"
        with self.db.write() as session:
            return _schedule(session, job_id, pool_id, agent_id, now, note)

    def _apply(self, placement: Placement, index: NodeIndex, now: float) -> bool:
        job_id = placement.job_key
        device_ids = [index.device_ids[(node, i)] for node, i in placement.devices]
        agent_id = index.node_agent[placement.node_keys[0]]
        pool_id = index.pool_ids[placement.pool_index]
        try:
            with self.db.write() as session:
                note = f"placed on {len(device_ids)} device(s)"
                if placement.note:  # why there: price after vouchers, runtime, deadline
                    note = f"{note}: {placement.note}"
                if not _schedule(session, job_id, pool_id, agent_id, now, note):
                    return False
                attempt = session.scalar(select(JobRow.attempt).where(JobRow.id == job_id))
                job_repo.allocate(session, job_id, int(attempt or 0), device_ids)
                open_cursor(session, job_id, int(attempt or 0), pool_id, device_ids)
        except IntegrityError:
            log.warning("job %s: a device was taken meanwhile; retrying next cycle", job_id)
            return False
        return True


def _schedule(
    session: Session, job_id: str, pool_id: str, agent_id: str, now: float, note: str
) -> bool:
    """PENDING → ADMITTED (a new attempt) → SCHEDULED on the pool's agent, in the caller's
    transaction; False when the job is no longer PENDING (cancelled or placed meanwhile)."""
    if not job_repo.move(
        session,
        job_id,
        JobState.PENDING,
        JobState.ADMITTED,
        now,
        "admitted",
        attempt=JobRow.attempt + 1,
        reason=None,
    ):
        return False
    job_repo.move_or_conflict(
        session,
        job_id,
        JobState.ADMITTED,
        JobState.SCHEDULED,
        now,
        note,
        pool_id=pool_id,
        agent_id=agent_id,
    )
    return True


def run_scheduler(settings: Settings, stop_event: threading.Event | None = None) -> None:
    """Run cycles every ``scheduler_interval_seconds`` until stopped (SIGTERM or the event)."""
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    db = connect(settings.db_url)
    scheduler = Scheduler(
        db,
        SystemClock(),
        settings.lease_seconds,
        settings.policy,
        settings.fair_share_half_life_seconds,
    )
    ledger = LedgerTicker(db, SystemClock(), settings)
    # Issue 9: one leader among scheduler processes (leader.py); metrics on their own port.
    leader = LeaderGate(leadership_for(db))
    metrics = SchedulerMetrics()
    if settings.scheduler_metrics_port is not None:
        metrics.serve(settings.scheduler_metrics_port)
    log.info("scheduler running on %s, policy %s", settings.db_url, settings.policy)
    try:
        while not stop.is_set():
            metrics.leader.set(1 if leader() else 0)
            if not leader.leading:  # a standby: try again next interval
                stop.wait(settings.scheduler_interval_seconds)
                continue
            try:
                report = scheduler.run_once()
                metrics.observe(report)
                ledger.tick()
                if report.applied or report.reaped.lost or report.reaped.requeued:
                    log.info(
                        "cycle: placed %d, pending %d, lost %d, requeued %d in %.1f ms",
                        report.applied,
                        len(report.result.pending),
                        report.reaped.lost,
                        report.reaped.requeued,
                        report.seconds * 1000,
                    )
            except Exception:  # a bad cycle must not kill the loop; the next one retries
                metrics.failures.inc()
                log.exception("scheduler cycle failed")
            stop.wait(settings.scheduler_interval_seconds)
    finally:
        leader.release()
        db.dispose()


class LedgerTicker:
    """Metering in the scheduler process: attempts that ended are charged every cycle (so a
    bill is complete soon after a job ends), everything else every metering interval, and
    the cash grace is enforced on the same interval."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.metering = Metering(db, clock)
        self.db, self.clock, self.settings = db, clock, settings
        self.last = float("-inf")

    def tick(self) -> None:
        try:
            now = self.clock.now()
            if now - self.last >= self.settings.metering_interval_seconds:
                self.last = now
                report = self.metering.run_once()
                admission.enforce_grace(self.db, now, self.settings.cash_grace_seconds)
            else:
                report = self.metering.run_once(ended_only=True)
            if report.lines:
                log.info("metering: %d line(s), %d posting(s)", report.lines, report.postings)
        except Exception:  # billing trouble must never stop scheduling; the next tick retries
            log.exception("metering failed")
