"""Job repository. Every state move is a compare-and-set on the old state inside the caller's
transaction, and writes one history row; an illegal move raises before touching the row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from huangpu.core.errors import Conflict, NotFound
from huangpu.core.ids import new_id
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import JobState, check_move
from huangpu.store.models import AllocationRow, JobEventRow, JobLogRow, JobRow


def insert_jobs(session: Session, items: Sequence[tuple[str, JobSpec]], now: float) -> list[JobRow]:
    """Insert PENDING jobs (org id, spec) with their first history row: two multi-row INSERTs,
    without the unit of work (it cost more than the database for a batch of jobs).

    The rows returned are not attached to the session: they show what was stored. To change a
    job further in the same transaction, use ``insert_job``."""
    values = [
        {
            "id": new_id("job"),
            "org_id": org_id,
            "name": spec.name,
            "kind": spec.kind.value,
            "spec": spec.model_dump(mode="json"),
            "state": JobState.PENDING.value,
            "priority": spec.priority,
            "attempt": 0,
            "cancel_requested": False,
            "log_size": 0,
            "created_at": now,
            "updated_at": now,
        }
        for org_id, spec in items
    ]
    if not values:
        return []
    # Jobs first: events reference them, and SQLite checks foreign keys per statement.
    session.execute(insert(JobRow), values)
    session.execute(
        insert(JobEventRow),
        [
            {
                "job_id": v["id"],
                "from_state": None,
                "to_state": v["state"],
                "attempt": 0,
                "at": now,
                "reason": "submitted",
            }
            for v in values
        ],
    )
    return [JobRow(**v) for v in values]


def insert_job(session: Session, org_id: str, spec: JobSpec, now: float) -> JobRow:
    """One PENDING job with its first history row, attached to the session."""
    row = JobRow(
        id=new_id("job"),
        org_id=org_id,
        name=spec.name,
        kind=spec.kind.value,
        spec=spec.model_dump(mode="json"),
        state=JobState.PENDING.value,
        priority=spec.priority,
        attempt=0,
        cancel_requested=False,
        log_size=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()  # the event references the job row; SQLite checks foreign keys per statement
    session.add(
        JobEventRow(
            job_id=row.id,
            from_state=None,
            to_state=row.state,
            attempt=0,
            at=now,
            reason="submitted",
        )
    )
    return row


def move(
    session: Session,
    job_id: str,
    old: JobState,
    new: JobState,
    now: float,
    note: str | None = None,
    **values: object,
) -> bool:
    """Move ``job_id`` from ``old`` to ``new`` if it is still in ``old``; False if it was not."""
    check_move(old, new)
    result = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.state == old.value)
        .values(state=new.value, updated_at=now, **values)
        .returning(JobRow.attempt)
    )
    attempt = result.scalar_one_or_none()
    if attempt is None:
        return False
    session.add(
        JobEventRow(
            job_id=job_id,
            from_state=old.value,
            to_state=new.value,
            attempt=attempt,
            at=now,
            reason=note,
        )
    )
    return True


def move_or_conflict(
    session: Session,
    job_id: str,
    old: JobState,
    new: JobState,
    now: float,
    note: str | None = None,
    **values: object,
) -> None:
    if not move(session, job_id, old, new, now, note, **values):
        raise Conflict(f"job {job_id} changed state meanwhile; retry", "state")


def get(session: Session, job_id: str, org_id: str | None = None) -> JobRow:
    row = session.get(JobRow, job_id)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise NotFound(f"no job {job_id!r} visible to this token", "id")
    return row


def history(session: Session, job_id: str) -> Sequence[JobEventRow]:
    return session.scalars(
        select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(JobEventRow.id)
    ).all()


def release_devices(session: Session, job_id: str) -> None:
    session.execute(delete(AllocationRow).where(AllocationRow.job_id == job_id))


def allocate(session: Session, job_id: str, attempt: int, device_ids: Iterable[str]) -> None:
    session.add_all(AllocationRow(device_id=d, job_id=job_id, attempt=attempt) for d in device_ids)


def append_log(session: Session, job_id: str, attempt: int, agent_offset: int, data: str) -> None:
    """Append a chunk once: a resent chunk (same attempt and offset) is ignored."""
    seen = session.scalar(
        select(func.count()).where(
            JobLogRow.job_id == job_id,
            JobLogRow.attempt == attempt,
            JobLogRow.agent_offset == agent_offset,
        )
    )
    if seen or not data:
        return
    position = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id)
        .values(log_size=JobRow.log_size + len(data))
        .returning(JobRow.log_size)
    ).scalar_one()
    session.add(
        JobLogRow(
            job_id=job_id,
            attempt=attempt,
            agent_offset=agent_offset,
            position=position - len(data),
            data=data,
        )
    )


def read_log(session: Session, job_id: str, offset: int, limit: int = 256 * 1024) -> str:
    chunks = session.scalars(
        select(JobLogRow)
        .where(
            JobLogRow.job_id == job_id, JobLogRow.position + func.length(JobLogRow.data) > offset
        )
        .order_by(JobLogRow.position)
    ).all()
    out: list[str] = []
    size = 0
    for chunk in chunks:
        piece = chunk.data[max(0, offset - chunk.position) :]
        out.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return "".join(out)
