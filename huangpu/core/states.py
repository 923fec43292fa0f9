"""Job states and the only moves allowed between them (DESIGN.md's table)."""

from __future__ import annotations

from enum import StrEnum

from huangpu.core.errors import IllegalTransition


class JobState(StrEnum):
    PENDING = "PENDING"
    ADMITTED = "ADMITTED"
    SCHEDULED = "SCHEDULED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PREEMPTED = "PREEMPTED"
    LOST = "LOST"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


S = JobState
_RUN_EXITS = frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.PREEMPTED, S.LOST, S.CANCELLED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.PENDING: frozenset({S.ADMITTED, S.CANCELLED, S.REJECTED}),
    S.ADMITTED: frozenset({S.SCHEDULED, S.PENDING, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.STARTING, S.PENDING, S.CANCELLED}),
    S.STARTING: _RUN_EXITS,
    S.RUNNING: _RUN_EXITS - {S.RUNNING},
    S.PREEMPTED: frozenset({S.PENDING}),
    S.LOST: frozenset({S.PENDING}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# States in which a job holds devices on a pool.
HOLDS_DEVICES = frozenset({S.SCHEDULED, S.STARTING, S.RUNNING})
# States an agent's lease covers.
LEASED = frozenset({S.STARTING, S.RUNNING})


def can_move(old: JobState, new: JobState) -> bool:
    return new in TRANSITIONS[old]


def check_move(old: JobState, new: JobState) -> None:
    if not can_move(old, new):
        allowed = ", ".join(sorted(TRANSITIONS[old])) or "none (terminal)"
        raise IllegalTransition(f"a job cannot move from {old} to {new}; from {old}: {allowed}")
