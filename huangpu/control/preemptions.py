"""Apply the preemptions a cycle decided: ask agents to stop running attempts, with a grace.

A RUNNING or STARTING victim gets a ``job_preemptions`` row for its current attempt: its agent
is told on its next poll (``PollResponse.preempt``, or ``cancel`` for older agents), stops the
job with the grace so it can checkpoint, and reports the exit, which ``AgentService`` records as
PREEMPTED → PENDING. If the agent is gone, its lease expires and the reaper requeues the job
(LOST → PENDING). A SCHEDULED victim (lease not yet taken) goes straight back to PENDING.
The reason is kept in the job's history and in its ``reason`` column.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import select, update

from huangpu.core.states import LEASED, JobState
from huangpu.scheduling.result import Preemption, PreemptReason
from huangpu.store import jobs as job_repo
from huangpu.store.db import Database
from huangpu.store.models import JobRow, OrgRow
from huangpu.store.quota_models import JobPreemptionRow

log = logging.getLogger(__name__)
_REQUEUE_CLEAR = {"agent_id": None, "pool_id": None, "lease_expires_at": None, "engine_id": None}


def reason_text(p: Preemption, org_name: str) -> str:
    if p.reason is PreemptReason.QUOTA_RECLAIM:
        return f"preempted: quota reclaimed by org {org_name} (for job {p.for_job})"
    return f"preempted by higher priority job {p.for_job}"


def apply_preemptions(
    db: Database, preemptions: Sequence[Preemption], job_org: Mapping[str, str], now: float
) -> int:
    """Request each stop in its own transaction; returns how many were requested.

    ``job_org`` maps the waiting jobs' ids to their org ids (for the reason's words)."""
    if not preemptions:
        return 0
    with db.read() as session:
        names = dict(session.execute(select(OrgRow.id, OrgRow.name)).all())
    done = 0
    for p in preemptions:
        org = job_org.get(p.for_job, "")
        why = reason_text(p, str(names.get(org, org or "?")))
        with db.write() as session:
            row = session.get(JobRow, p.job_key)
            if row is None or row.cancel_requested:
                continue
            state = JobState(row.state)
            if state is JobState.SCHEDULED:
                if job_repo.move(session, row.id, state, JobState.PENDING, now, why,
                                 reason=why, **_REQUEUE_CLEAR):  # fmt: skip
                    job_repo.release_devices(session, row.id)
                    done += 1
                continue
            asked = session.get(JobPreemptionRow, (row.id, row.attempt))
            if state not in LEASED or asked is not None:
                continue
            session.add(
                JobPreemptionRow(
                    job_id=row.id,
                    attempt=row.attempt,
                    for_job=p.for_job,
                    reason=why,
                    grace_s=p.grace_s,
                    requested_at=now,
                )
            )
            session.execute(update(JobRow).where(JobRow.id == row.id).values(reason=why))
            done += 1
    if done:
        log.info("asked %d running job(s) to stop for waiting jobs", done)
    return done
