"""What a cycle decides: placements, and for every job left waiting an ordered reason.

``PendingReason`` is ordered by how close the job is to running, as Kueue orders its
conditions. A job is reported with the *first* check it fails, in this order:

    NO_MATCHING_CHIP                no node anywhere has a chip the job accepts
    INSUFFICIENT_MEMORY             ... none of those has enough memory per accelerator
    NO_POOL_ALLOWED                 ... those that do sit only in pools the job may not use
    TOO_MANY_ACCELERATORS_PER_NODE  ... none of the allowed nodes has that many accelerators
    GANG_DOES_NOT_FIT               ... no interconnect domain holds enough such nodes
    BUDGET_EXHAUSTED                the org's budget stop (from the ledger) blocks admission
    OVER_MAX_PRICE                  every pool that fits costs more than the job's max price
    WAITING_FOR_CAPACITY            it could run here, but not enough is free right now
    QUOTA_EXHAUSTED                 capacity is free, but the org's quota (and what its cohort
                                    may lend) for that chip family is used up
    RESERVED_FOR_EARLIER_JOB        it fits, but would delay the reservation of the job at the
                                    head of the queue (EASY backfill)
    PREEMPTING                      lower-priority or borrowing jobs are being stopped for it
    BLOCKED_BY_JOBS_AHEAD           it fit the free capacity, which jobs ahead of it took

So ``max(reasons)`` over a queue names the job nearest to running, and a dashboard can sort
by reason without parsing strings. The first five hold whatever is free; only operators adding
capacity (or the tenant relaxing the spec) change them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

ArgValue = int | float | str


class PendingReason(IntEnum):
    NO_MATCHING_CHIP = 10
    INSUFFICIENT_MEMORY = 20
    NO_POOL_ALLOWED = 30
    TOO_MANY_ACCELERATORS_PER_NODE = 40
    GANG_DOES_NOT_FIT = 50
    BUDGET_EXHAUSTED = 52
    OVER_MAX_PRICE = 54
    WAITING_FOR_CAPACITY = 60
    QUOTA_EXHAUSTED = 64
    RESERVED_FOR_EARLIER_JOB = 66
    PREEMPTING = 68
    BLOCKED_BY_JOBS_AHEAD = 70

    @property
    def structural(self) -> bool:
        """True when freeing capacity alone will never let the job run."""
        return self < PendingReason.WAITING_FOR_CAPACITY


def _nodes(count: ArgValue) -> str:
    return f"{count} suitable node" + ("" if count == 1 else "s")


def _gib(value: ArgValue) -> str:
    return f"{float(value):g} GiB"


def _shape(args: dict[str, ArgValue]) -> str:
    accel, nodes = args.get("accelerators", 1), args.get("nodes", 1)
    if nodes == 1:
        return f"{accel} accelerators on one node"
    return f"{nodes} nodes × {accel} accelerators in one interconnect domain"


def _cny(fen: ArgValue) -> str:
    return f"{int(fen) / 100:.2f} CNY"


def _secs(value: ArgValue) -> str:
    s = float(value)
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _explain(reason: PendingReason, a: dict[str, ArgValue]) -> str:
    if reason is PendingReason.NO_MATCHING_CHIP:
        return f"no pool offers any of the accepted chips ({a.get('chips', '?')})"
    if reason is PendingReason.INSUFFICIENT_MEMORY:
        return (
            f"needs ≥ {_gib(a.get('min_memory_gib', 0))} per accelerator; the accepted chips "
            f"have at most {_gib(a.get('largest_memory_gib', 0))}"
        )
    if reason is PendingReason.NO_POOL_ALLOWED:
        return (
            "the accepted chips are only in pools this job may not use "
            f"({a.get('pools', '?')}); widen its region or allow-list"
        )
    if reason is PendingReason.TOO_MANY_ACCELERATORS_PER_NODE:
        return (
            f"needs {a.get('accelerators')} accelerators per node; the largest allowed node "
            f"has {a.get('largest_node')}"
        )
    if reason is PendingReason.GANG_DOES_NOT_FIT:
        return (
            f"needs {_shape(a)}; the largest such domain has {_nodes(a.get('largest_domain', 0))}"
        )
    if reason is PendingReason.BUDGET_EXHAUSTED:
        why = a.get("why") or "its budget or cash balance is used up"
        return f"org {a.get('org', '?')} cannot start new jobs: {why}; top up or raise the budget"
    if reason is PendingReason.OVER_MAX_PRICE:
        return (
            f"every pool that could run it costs more than your max price of "
            f"{_cny(a.get('max_price_fen', 0))}/accelerator-hour after vouchers; the cheapest "
            f"is {_cny(a.get('cheapest_fen', 0))} on pool {a.get('pool', '?')}"
        )
    if reason is PendingReason.QUOTA_EXHAUSTED:
        return (
            f"org {a.get('org', '?')} has used its quota for {a.get('family', '?')} chips "
            f"({float(a.get('used', 0)):g} of {float(a.get('quota', 0)):g} compute units, "
            f"and its cohort has nothing left to lend); it starts when the org's own jobs end"
        )
    if reason is PendingReason.RESERVED_FOR_EARLIER_JOB:
        return (
            f"it would fit now, but would delay job {a.get('head', '?')}, which waits longer "
            f"and has a reservation on pool {a.get('pool', '?')} in {_secs(a.get('in_s', 0))}; "
            "a shorter runtime estimate would let it start in the gap"
        )
    if reason is PendingReason.PREEMPTING:
        return (
            f"{a.get('victims', '?')} job(s) with {a.get('why', 'lower priority')} are being "
            f"stopped (checkpoint grace {_secs(a.get('grace_s', 0))}) to make room on pool "
            f"{a.get('pool', '?')}"
        )
    if reason is PendingReason.WAITING_FOR_CAPACITY:
        where = f" on pool {a['pool']}" if "pool" in a else ""
        if a.get("nodes", 1) == 1:
            return (
                f"waiting for capacity: {a.get('accelerators')} × accepted chips, largest free "
                f"block is {a.get('largest_free')}{where}"
            )
        return (
            f"waiting for capacity: needs {_shape(a)}; at most "
            f"{_nodes(a.get('largest_free', 0))} free together{where}"
        )
    where = f" on pool {a['pool']}" if "pool" in a else ""
    return (
        f"it fit the free capacity{where}, but jobs ahead of it in the queue (higher priority "
        "or submitted earlier) took it this cycle"
    )


@dataclass(frozen=True, slots=True)
class Pending:
    job_key: str
    reason: PendingReason
    args: dict[str, ArgValue] = field(default_factory=dict)

    def explain(self) -> str:
        """One sentence a tenant understands, built from the reason and its arguments."""
        return _explain(self.reason, self.args)


class Note:
    """A placement's note, written the first time it is read: a simulated month places
    millions of jobs and reads none of their notes, while the live loop reads each one."""

    __slots__ = ("_text", "_write")

    def __init__(self, write: Callable[[], str]) -> None:
        self._write: Callable[[], str] | None = write
        self._text = ""

    def __str__(self) -> str:
        if self._write is not None:
            self._text, self._write = self._write(), None
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other) if isinstance(other, (Note, str)) else NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


class Placement(NamedTuple):
    """A job's devices. A named tuple, not a frozen dataclass: a cycle may build thousands
    and a simulation millions, and a tuple is built four times faster."""

    job_key: str
    pool_index: int
    node_keys: tuple[str, ...]
    devices: tuple[tuple[str, int], ...]  # (node key, device index), node by node
    chip_index: int = -1  # the chip it runs on (-1: not recorded by the policy)
    why: Note | str = ""  # the trade-off made (cost, speed, deadline): read it as ``note``
    backfilled: bool = False  # started ahead of the head job's reservation (EASY)

    @property
    def note(self) -> str:
        """The trade-off made, in words for the tenant."""
        return str(self.why)


class PreemptReason(IntEnum):
    PRIORITY = 1  # a higher-priority job needs the devices
    QUOTA_RECLAIM = 2  # the owner of lent quota wants it back (Kueue reclaimWithinCohort)


@dataclass(frozen=True, slots=True)
class Preemption:
    """Stop ``job_key`` for ``for_job``: signal it to checkpoint, kill after ``grace_s``."""

    job_key: str
    reason: PreemptReason
    for_job: str
    grace_s: float

    def explain(self) -> str:
        why = (
            "a higher-priority job needs its devices"
            if self.reason is PreemptReason.PRIORITY
            else "its org was borrowing idle quota, and the owner wants it back"
        )
        return (
            f"preempted for {self.for_job}: {why}; it has {self.grace_s:.0f} s to checkpoint "
            "and is requeued to resume from its checkpoint"
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    """EASY backfill: the head job will start at ``start`` on these nodes; nothing may delay it."""

    job_key: str
    pool_index: int
    chip_index: int
    start: float
    node_keys: tuple[str, ...]
    hold: tuple[int, ...] = ()  # per node: free devices only jobs ending by ``start`` may use


@dataclass(frozen=True, slots=True)
class CycleStats:
    jobs: int
    placed: int
    pending: int
    devices_placed: int
    free_devices_before: int
    free_devices_after: int
    oldest_pending_wait_s: float  # now − earliest submit time among pending jobs; 0 if none
    by_reason: dict[str, int]  # PendingReason name -> count, only reasons that occur


@dataclass(frozen=True, slots=True)
class CycleResult:
    placements: tuple[Placement, ...]
    pending: tuple[Pending, ...]
    stats: CycleStats
    preemptions: tuple[Preemption, ...] = ()
    reservations: tuple[Reservation, ...] = ()
