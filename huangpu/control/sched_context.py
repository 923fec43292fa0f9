"""Read what the scheduler needs beyond inventory and queue, in the cycle's read transaction.

Pool suppliers and prices; the jobs holding devices (quota usage, backfill's expected ends,
preemption candidates); quotas and cohorts; each org's voucher subsidy per chip as the ledger
would bill it; fair-share usage (passed in, as it is cached between cycles); and the ledger's
budget stops (``blocked``), which the snapshot turns into ``BUDGET_EXHAUSTED``; and runtime
estimates from history (passed in, cached like usage) for jobs the tenant gave none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.control.fairshare_usage import decayed_usage
from huangpu.control.runtime_history import RuntimeKey, runtime_key
from huangpu.control.snapshots import RunningView, SchedulingContext, _roofline
from huangpu.control.subsidies import subsidy_table
from huangpu.core.errors import NotFound
from huangpu.core.states import HOLDS_DEVICES
from huangpu.scheduling.throughput import normalised_compute
from huangpu.store import pricing_repo, quota_repo
from huangpu.store.models import AllocationRow, JobRow, PoolRow, SupplierRow
from huangpu.store.quota_models import JobPreemptionRow


def running_jobs(
    session: Session, estimates: Mapping[RuntimeKey, float] | None = None
) -> list[RunningView]:
    """Jobs holding devices (SCHEDULED, STARTING, RUNNING), with the devices they hold.

    ``start`` is the job's last state change (placed, or started running); the expected end is
    start + the tenant's ``estimated_hours``, else + history's estimate for the job's org, kind
    and shape (``estimates``), else never. A job already asked to cancel or to stop for a
    preemption is not preemptible again."""
    hours = JobRow.spec["estimated_hours"].as_float()
    accelerators = JobRow.spec[("resources", "accelerators")].as_integer()
    nodes = JobRow.spec[("resources", "nodes")].as_integer()
    history = estimates or {}
    rows = session.execute(
        select(
            JobRow.id,
            JobRow.org_id,
            JobRow.priority,
            JobRow.updated_at,
            JobRow.cancel_requested,
            JobPreemptionRow.job_id,
            hours,
            JobRow.kind,
            accelerators,
            nodes,
            AllocationRow.device_id,
        )
        .join(AllocationRow, AllocationRow.job_id == JobRow.id)
        .outerjoin(
            JobPreemptionRow,
            (JobPreemptionRow.job_id == JobRow.id) & (JobPreemptionRow.attempt == JobRow.attempt),
        )
        .where(JobRow.state.in_([s.value for s in HOLDS_DEVICES]))
        .order_by(JobRow.id)
    ).all()
    views: dict[str, RunningView] = {}
    devices: dict[str, list[str]] = {}
    for job, org, priority, start, cancel, preempting, est, kind, accel, n, device in rows:
        if job not in views:
            if est:
                end = start + float(est) * 3600
            else:
                end = start + history.get(runtime_key(org, kind, accel, n), float("inf"))
            stoppable = not cancel and preempting is None
            views[job] = RunningView(job, org, int(priority), float(start), end, stoppable, ())
        devices.setdefault(job, []).append(device)
    return [
        RunningView(v.job_id, v.org_id, v.priority, v.start, v.expected_end, v.preemptible,
                    tuple(devices[v.job_id]))
        for v in views.values()
    ]  # fmt: skip


@cache
def chip_ncu() -> dict[str, float]:
    matrix = _roofline()
    return dict(zip(matrix.chips, normalised_compute(matrix).tolist(), strict=True))


class FairShareUsage:
    """Decayed usage per org, re-read at most every ``refresh_s``: it moves slowly, and the
    query reads every sample of the last ten half-lives."""

    def __init__(self, half_life_s: float, refresh_s: float = 60.0) -> None:
        self.half_life_s, self.refresh_s = half_life_s, refresh_s
        self._at = -float("inf")
        self._usage: dict[str, float] = {}

    def get(self, session: Session, now: float) -> dict[str, float]:
        if abs(now - self._at) >= self.refresh_s:
            self._usage = decayed_usage(session, now, self.half_life_s, chip_ncu())
            self._at = now
        return self._usage


def load_context(
    session: Session,
    now: float,
    orgs: Sequence[str] = (),
    blocked: Mapping[str, str] | None = None,
    usage: Mapping[str, float] | None = None,
    runtimes: Mapping[RuntimeKey, float] | None = None,
) -> SchedulingContext:
    """``orgs`` keep their indices; orgs of running jobs and of quotas are appended after them
    (the context's ``orgs`` is the full list). ``runtimes`` are history's estimates
    (``RuntimeHistory``), used where the tenant gave no ``estimated_hours``."""
    suppliers = {
        pool: (sid, name)
        for pool, sid, name in session.execute(
            select(PoolRow.id, SupplierRow.id, SupplierRow.name).join(
                SupplierRow, SupplierRow.id == PoolRow.supplier_id
            )
        )
    }
    prices = pricing_repo.price_list(session)

    def price(pool: str, chip: str) -> int | None:
        try:
            return prices.price_at(pool, chip, now)
        except NotFound:
            return None  # unpriced: ranks as free; the ledger refuses to rate it later

    running = running_jobs(session, runtimes)
    quotas, cohorts = quota_repo.quota_table(session)
    every = list(dict.fromkeys([*orgs, *(r.org_id for r in running), *(o for o, _ in quotas)]))
    return SchedulingContext(
        pool_suppliers=suppliers,
        price=price,
        orgs=tuple(every),
        blocked=dict(blocked or {}),
        subsidy_bp=subsidy_table(session, now, every),
        running=running,
        quotas=quotas,
        cohorts=cohorts,
        decayed_usage=dict(usage or {}),
        runtime_estimates=dict(runtimes or {}),
    )
