"""The lease reaper: a lease not renewed in time marks its job LOST, and LOST jobs are requeued.

A SCHEDULED job whose lease was never taken goes back to PENDING. A job the user asked to
cancel ends CANCELLED instead of being requeued. Each move is its own transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_, select

from huangpu.core.clock import Clock
from huangpu.core.states import LEASED, JobState
from huangpu.store import jobs as job_repo
from huangpu.store.db import Database
from huangpu.store.models import JobRow

log = logging.getLogger(__name__)


@dataclass
class ReapStats:
    lost: int = 0
    requeued: int = 0
    unclaimed: int = 0
    cancelled: int = 0


_REQUEUE_CLEAR = {"agent_id": None, "pool_id": None, "lease_expires_at": None, "engine_id": None}


class LeaseReaper:
    def __init__(self, db: Database, clock: Clock, lease_seconds: float) -> None:
        self.db = db
        self.clock = clock
        self.lease_seconds = lease_seconds

    def run_once(self) -> ReapStats:
        now = self.clock.now()
        stats = ReapStats()
        with self.db.read() as session:
            expired = session.execute(
                select(JobRow.id, JobRow.state, JobRow.cancel_requested).where(
                    or_(
                        JobRow.state.in_([s.value for s in LEASED])
                        & (JobRow.lease_expires_at < now),
                        (JobRow.state == JobState.SCHEDULED.value)
                        & (JobRow.updated_at < now - self.lease_seconds),
                        JobRow.state.in_([JobState.LOST.value, JobState.PREEMPTED.value]),
                    )
                )
            ).all()
        for job_id, state_text, cancel in expired:
            state = JobState(state_text)
            with self.db.write() as session:
                if state is JobState.SCHEDULED:
                    if job_repo.move(
                        session,
                        job_id,
                        state,
                        JobState.PENDING,
                        now,
                        "lease never taken by the agent",
                        **_REQUEUE_CLEAR,
                    ):
                        job_repo.release_devices(session, job_id)
                        stats.unclaimed += 1
                    continue
                if state in LEASED:
                    target = JobState.CANCELLED if cancel else JobState.LOST
                    reason = "cancelled; agent gone" if cancel else "lease expired: agent lost"
                    if not job_repo.move(
                        session, job_id, state, target, now, reason, lease_expires_at=None
                    ):
                        continue
                    job_repo.release_devices(session, job_id)
                    if cancel:
                        stats.cancelled += 1
                        continue
                    stats.lost += 1
                    log.warning("job %s lost its lease; requeueing", job_id)
                if job_repo.move(
                    session,
                    job_id,
                    JobState.LOST if state in LEASED else state,
                    JobState.PENDING,
                    now,
                    "requeued",
                    **_REQUEUE_CLEAR,
                ):
                    stats.requeued += 1
        return stats
