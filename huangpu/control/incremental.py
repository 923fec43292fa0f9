"""When the live loop may run an incremental cycle: only new arrivals, reservation carried.

After a cycle, the jobs left waiting could not start on what was free. If since then no device
was freed (free devices now ⊆ free devices the cycle left), no budget stop or quota changed
and no full cycle is overdue, they still cannot start, so the next cycle schedules only the
jobs that arrived meanwhile, against the head job's reservation as that cycle left it
(``SchedulingContext.held``). A full cycle runs at least every ``full_every_s`` (prices,
fair share and the starvation guard move with time) and whenever anything was freed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from huangpu.scheduling.result import CycleResult, Reservation


@dataclass(frozen=True)
class LastCycle:
    at: float  # when the last full cycle ran
    free_after: frozenset[str]  # device ids left free once its placements were applied
    waiting: frozenset[str]  # job ids it left pending
    stopped: tuple[tuple[str, str], ...]
    quotas: object  # the quota table it used, compared by value
    reservation: Reservation | None


class Incremental:
    def __init__(self, full_every_s: float = 10.0) -> None:
        self.full_every_s = full_every_s
        self.last: LastCycle | None = None
        self.full_at = -float("inf")

    def can_skip(
        self,
        now: float,
        free_now: Iterable[str],
        stopped: Mapping[str, str],
        quotas: object,
    ) -> LastCycle | None:
        """The last cycle, when this one may be incremental; else None (run a full one)."""
        last = self.last
        if last is None or now - self.full_at >= self.full_every_s:
            return None
        if tuple(sorted(stopped.items())) != last.stopped or quotas != last.quotas:
            return None
        if not set(free_now) <= last.free_after:
            return None  # something was freed: the waiting jobs may fit now
        return last

    def record(
        self,
        now: float,
        full: bool,
        free_after: Iterable[str],
        result: CycleResult,
        stopped: Mapping[str, str],
        quotas: object,
        carried: LastCycle | None,
    ) -> None:
        waiting = frozenset(p.job_key for p in result.pending)
        if full:
            self.full_at = now
            reservation = result.reservations[0] if result.reservations else None
        else:
            assert carried is not None
            waiting |= carried.waiting
            reservation = carried.reservation
        self.last = LastCycle(
            now,
            frozenset(free_after),
            waiting,
            tuple(sorted(stopped.items())),
            quotas,
            reservation,
        )
