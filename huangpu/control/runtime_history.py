"""Runtime estimates from history, for jobs whose tenant gave no ``estimated_hours``.

Backfill needs an end time for every job it reserves against or starts in a gap; a job without
one counts as never ending. This table fills the gap from the jobs that succeeded recently:
their run times, grouped by what makes runs alike, an org's (kind, shape):

    key       (org id, job kind, accelerators per node, nodes)
    sample    the time the job spent RUNNING, summed over its attempts (a job preempted and
              resumed from a checkpoint counts its whole run, not only the last stretch)
    estimate  the 90th percentile (nearest rank: an observed value) of the key's latest
              ``SAMPLES`` samples, only with at least ``MIN_SAMPLES`` of them

A high percentile because EASY backfill is only safe when estimates rarely undershoot. Samples
are read as measured, on whatever chip each job ran: the snapshot takes an estimate as the time
on the fastest accepted chip and scales it up for slower ones, so a sample from a slow chip only
errs long. Rows with a missing RUNNING start, or a negative time, are skipped.

Read from ``jobs`` (SUCCEEDED within ``WINDOW_S``, newest first, at most ``MAX_JOBS``) and their
``job_events``; cached by ``RuntimeHistory`` and re-read at most once a minute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.core.states import JobState
from huangpu.store.models import JobEventRow, JobRow

RuntimeKey = tuple[str, str, int, int]  # (org id, job kind, accelerators per node, nodes)

WINDOW_S = 14 * 86400.0
SAMPLES = 50
MIN_SAMPLES = 3
PERCENTILE = 0.9
MAX_JOBS = 20_000

# Moves that end a stretch of running: one per attempt, after its RUNNING.
_EXITS = (
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.PREEMPTED,
    JobState.LOST,
    JobState.CANCELLED,
)


def runtime_key(org_id: str, kind: str, accelerators: int | None, nodes: int | None) -> RuntimeKey:
    """The key of a job's shape; a resource the spec leaves out takes JobSpec's default, 1."""
    return (org_id, kind, int(accelerators or 1), int(nodes or 1))


def percentile(samples: Sequence[float], q: float = PERCENTILE) -> float:
    """Nearest-rank percentile: the smallest sample at or above a share ``q`` of them."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def estimates(samples: dict[RuntimeKey, list[float]]) -> dict[RuntimeKey, float]:
    """Samples per key, newest first -> the estimate, for keys with enough of them."""
    return {
        key: percentile(durations[:SAMPLES])
        for key, durations in samples.items()
        if len(durations) >= MIN_SAMPLES
    }


def _run_time(events: Iterable[tuple[int, str, float]]) -> float | None:
    """Seconds RUNNING over all attempts, from (attempt, to state, at) in event order; None
    when the succeeding attempt has no RUNNING start or some stretch is negative."""
    started: dict[int, float] = {}
    total = 0.0
    succeeded = False
    for attempt, state, at in events:
        if state == JobState.RUNNING:
            started[attempt] = float(at)
            continue
        start = started.pop(attempt, None)
        if start is None:
            if state == JobState.SUCCEEDED:
                return None  # ended without a recorded start: nothing to measure
            continue  # an attempt that never ran (e.g. cancelled while STARTING)
        if at < start:
            return None
        total += float(at) - start
        succeeded |= state == JobState.SUCCEEDED
    return total if succeeded else None


def run_samples(
    session: Session, now: float, window_s: float = WINDOW_S, max_jobs: int = MAX_JOBS
) -> dict[RuntimeKey, list[float]]:
    """Run times of jobs that succeeded in the last ``window_s``, per key, newest first."""
    accelerators = JobRow.spec[("resources", "accelerators")].as_integer()
    nodes = JobRow.spec[("resources", "nodes")].as_integer()
    recent = (
        select(JobRow.id, JobRow.org_id, JobRow.kind, accelerators, nodes, JobRow.updated_at)
        .where(JobRow.state == JobState.SUCCEEDED.value, JobRow.updated_at > now - window_s)
        .order_by(JobRow.updated_at.desc(), JobRow.id)
        .limit(max_jobs)
    )
    jobs = session.execute(recent).all()
    if not jobs:
        return {}
    ids = recent.with_only_columns(JobRow.id).subquery()
    events: dict[str, list[tuple[int, str, float]]] = {}
    for job_id, attempt, state, at in session.execute(
        select(JobEventRow.job_id, JobEventRow.attempt, JobEventRow.to_state, JobEventRow.at)
        .where(
            JobEventRow.job_id.in_(select(ids.c.id)),
            JobEventRow.to_state.in_([JobState.RUNNING.value, *(s.value for s in _EXITS)]),
        )
        .order_by(JobEventRow.id)
    ):
        events.setdefault(job_id, []).append((int(attempt), str(state), float(at)))
    samples: dict[RuntimeKey, list[float]] = {}
    for job_id, org, kind, accel, n, _ in jobs:  # newest first
        seconds = _run_time(events.get(job_id, ()))
        if seconds is not None:
            samples.setdefault(runtime_key(org, kind, accel, n), []).append(seconds)
    return samples


class RuntimeHistory:
    """Runtime estimates per key, re-read at most every ``refresh_s``: they move slowly, and
    the query reads every job that succeeded in the window."""

    def __init__(self, refresh_s: float = 60.0, window_s: float = WINDOW_S) -> None:
        self.refresh_s, self.window_s = refresh_s, window_s
        self._at = -float("inf")
        self._estimates: dict[RuntimeKey, float] = {}

    def get(self, session: Session, now: float) -> dict[RuntimeKey, float]:
        if abs(now - self._at) >= self.refresh_s:
            self._estimates = estimates(run_samples(session, now, self.window_s))
            self._at = now
        return self._estimates
