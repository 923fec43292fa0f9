"""What a cycle decides: placements, and for every job left waiting an ordered reason.

``PendingReason`` is ordered by how close the job is to running, as Kueue orders its
conditions. A job is reported with the *first* check it fails, in this order:

    NO_MATCHING_CHIP                no node anywhere has a chip the job accepts
    INSUFFICIENT_MEMORY             ... none of those has enough memory per accelerator
    NO_POOL_ALLOWED                 ... those that do sit only in pools the job may not use
    TOO_MANY_ACCELERATORS_PER_NODE  ... none of the allowed nodes has that many accelerators
    GANG_DOES_NOT_FIT               ... no interconnect domain holds enough such nodes
    WAITING_FOR_CAPACITY            it could run here, but not enough is free right now
    BLOCKED_BY_JOBS_AHEAD           it fit the free capacity, which jobs ahead of it took

So ``max(reasons)`` over a queue names the job nearest to running, and a dashboard can sort
by reason without parsing strings. The first five hold whatever is free; only operators adding
capacity (or the tenant relaxing the spec) change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

ArgValue = int | float | str


class PendingReason(IntEnum):
    NO_MATCHING_CHIP = 10
    INSUFFICIENT_MEMORY = 20
    NO_POOL_ALLOWED = 30
    TOO_MANY_ACCELERATORS_PER_NODE = 40
    GANG_DOES_NOT_FIT = 50
    WAITING_FOR_CAPACITY = 60
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


@dataclass(frozen=True, slots=True)
class Placement:
    job_key: str
    pool_index: int
    node_keys: tuple[str, ...]
    devices: tuple[tuple[str, int], ...]  # (node key, device index), node by node


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
