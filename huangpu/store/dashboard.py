"""Read-side aggregates for the wall and the consoles, and the audit log.

Every query here groups in SQL and returns a handful of rows, whatever the size of the city:
the wall refreshes them once a second for all its viewers, so none may scan per device in
Python or ship job rows out of the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, distinct, func, insert, or_, select
from sqlalchemy.orm import Session

from huangpu.core.states import HOLDS_DEVICES, JobState
from huangpu.store.models import (
    AgentRow,
    AllocationRow,
    AuditRow,
    DeviceRow,
    JobEventRow,
    JobRow,
    OrgRow,
    PoolRow,
    SupplierRow,
    UsageSampleRow,
    UtilSampleRow,
)

_HOLDING = [s.value for s in HOLDS_DEVICES]
# Placed on a pool but not yet running there: the pool's queue.
_POOL_QUEUE = [JobState.SCHEDULED.value, JobState.STARTING.value]


@dataclass(frozen=True, slots=True)
class PoolInfo:
    id: str
    name: str
    supplier: str
    region: str
    executor: str
    created_at: float
    agents: int
    last_seen: float | None


def device_counts(session: Session) -> list[tuple[str, str, int, int]]:
    """(pool id, chip, healthy devices, devices allocated) per pool and chip."""
    rows = session.execute(
        select(
            DeviceRow.pool_id,
            DeviceRow.chip,
            func.count(DeviceRow.id),
            func.count(AllocationRow.device_id),
        )
        .outerjoin(AllocationRow, AllocationRow.device_id == DeviceRow.id)
        .where(DeviceRow.healthy.is_(True))
        .group_by(DeviceRow.pool_id, DeviceRow.chip)
    )
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def job_state_counts(session: Session, org_id: str | None = None) -> dict[str, int]:
    query = select(JobRow.state, func.count()).group_by(JobRow.state)
    if org_id is not None:
        query = query.where(JobRow.org_id == org_id)
    return {state: int(n) for state, n in session.execute(query)}


def pool_queue_depth(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(JobRow.pool_id, func.count())
        .where(JobRow.state.in_(_POOL_QUEUE))
        .group_by(JobRow.pool_id)
    )
    return {pool_id: int(n) for pool_id, n in rows if pool_id}


def running_by_kind(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(JobRow.kind, func.count()).where(JobRow.state.in_(_HOLDING)).group_by(JobRow.kind)
    )
    return {kind: int(n) for kind, n in rows}


def orgs_active_since(session: Session, since: float) -> int:
    """Orgs with a job that holds devices now or that changed state since ``since``."""
    query = select(func.count(distinct(JobRow.org_id))).where(
        or_(JobRow.state.in_(_HOLDING), JobRow.updated_at >= since)
    )
    return int(session.scalar(query) or 0)


def pools(session: Session) -> list[PoolInfo]:
    agents = (
        select(
            AgentRow.pool_id.label("pool_id"),
            func.count(AgentRow.id).label("n"),
            func.max(AgentRow.last_seen).label("last_seen"),
        )
        .group_by(AgentRow.pool_id)
        .subquery()
    )
    rows = session.execute(
        select(
            PoolRow.id,
            PoolRow.name,
            SupplierRow.name,
            PoolRow.region,
            PoolRow.executor,
            PoolRow.created_at,
            agents.c.n,
            agents.c.last_seen,
        )
        .join(SupplierRow, SupplierRow.id == PoolRow.supplier_id)
        .outerjoin(agents, agents.c.pool_id == PoolRow.id)
        .order_by(SupplierRow.name, PoolRow.name)
    )
    return [PoolInfo(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6] or 0), r[7]) for r in rows]


def agents(session: Session) -> Sequence[AgentRow]:
    return session.scalars(select(AgentRow).order_by(AgentRow.pool_id, AgentRow.name)).all()


def last_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(JobEventRow.id))) or 0)


def recent_events(
    session: Session, limit: int = 30, org_id: str | None = None
) -> list[dict[str, Any]]:
    """The newest job state changes, newest first (by primary key, so no scan)."""
    query = (
        select(
            JobEventRow.id,
            JobEventRow.at,
            JobEventRow.job_id,
            JobEventRow.from_state,
            JobEventRow.to_state,
            JobRow.kind,
            JobRow.name,
            JobRow.org_id,
            PoolRow.name,
        )
        .join(JobRow, JobRow.id == JobEventRow.job_id)
        .outerjoin(PoolRow, PoolRow.id == JobRow.pool_id)
        .order_by(JobEventRow.id.desc())
        .limit(limit)
    )
    if org_id is not None:
        query = query.where(JobRow.org_id == org_id)
    return [
        {
            "id": r[0],
            "at": r[1],
            "job_id": r[2],
            "from": r[3],
            "to": r[4],
            "kind": r[5],
            "name": r[6],
            "org_id": r[7],
            "pool": r[8],
        }
        for r in session.execute(query)
    ]


# --- utilisation time series ------------------------------------------------------------------


def record_util(session: Session, at: float, rows: Iterable[tuple[str, int, int]]) -> None:
    """One sample per pool: (pool id, devices in use, healthy devices)."""
    values = [{"at": at, "pool_id": p, "in_use": u, "total": t} for p, u, t in rows]
    if values:
        session.execute(insert(UtilSampleRow), values)


def prune_util(session: Session, before: float) -> None:
    session.execute(delete(UtilSampleRow).where(UtilSampleRow.at < before))


def util_series(session: Session, since: float) -> list[tuple[float, str, int, int]]:
    rows = session.execute(
        select(UtilSampleRow.at, UtilSampleRow.pool_id, UtilSampleRow.in_use, UtilSampleRow.total)
        .where(UtilSampleRow.at >= since)
        .order_by(UtilSampleRow.at)
    )
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


# --- usage (until the ledger's bills exist) ---------------------------------------------------


def org_usage(session: Session, org_id: str, since: float, until: float) -> list[dict[str, Any]]:
    """Device-hours per pool for one org's usage samples that started in [since, until)."""
    rows = session.execute(
        select(PoolRow.name, JobRow.kind, func.sum(UsageSampleRow.device_seconds), func.count())
        .join(JobRow, JobRow.id == UsageSampleRow.job_id)
        .outerjoin(PoolRow, PoolRow.id == JobRow.pool_id)
        .where(
            JobRow.org_id == org_id,
            UsageSampleRow.start >= since,
            UsageSampleRow.start < until,
        )
        .group_by(PoolRow.name, JobRow.kind)
        .order_by(PoolRow.name, JobRow.kind)
    )
    return [
        {"pool": r[0], "kind": r[1], "device_hours": float(r[2] or 0) / 3600, "samples": r[3]}
        for r in rows
    ]


# --- audit log --------------------------------------------------------------------------------


def audit(
    session: Session,
    at: float,
    token_id: str | None,
    role: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditRow(
            at=at,
            token_id=token_id,
            role=role,
            action=action,
            target=target[:128],
            detail=detail or {},
        )
    )


def audit_rows(session: Session, limit: int = 100) -> Sequence[AuditRow]:
    return session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()


def org_names(session: Session) -> dict[str, str]:
    return {i: n for i, n in session.execute(select(OrgRow.id, OrgRow.name))}
