"""Chip-agnostic time-sharing baselines, the ones Gavel compares itself with (OSDI '20 §7):

- ``las``: least attained service first (Tiresias), in NCU·s of usage per org;
- ``max-min-share``: equal time share first to whoever has received the least of it per
  second in the system, which is what Gavel's ``max_min_fairness`` realises round by round
  when every chip counts the same.

Both treat every chip as equal: a job goes to any node with room, spread by a hash of
(job, time), so over many rounds a job sees each chip model in proportion to its count, as
Gavel's agnostic allocation does. They are baselines; ``las-hetero`` is the one to use.
"""

from __future__ import annotations

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import (
    attained,
    gang_nodes,
    ordered,
    placement,
    share_rate,
    spread_pick,
    waiting,
)
from huangpu.scheduling.result import Pending, Placement
from huangpu.scheduling.snapshot import BoolArray, IntArray, Snapshot


def _agnostic_choose(
    s: Snapshot, job: int, free: IntArray, feasible: BoolArray
) -> Placement | Pending:
    accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
    candidates = feasible & (free >= accel)
    if candidates.any():
        if nodes == 1:
            return placement(s, job, [spread_pick(s.job_keys[job], s.now, candidates, free)], free)
        gang = gang_nodes(s, candidates, nodes)
        if gang is not None:
            return placement(s, job, gang.tolist(), free)
    return waiting(s, job, feasible, free)


@register("las")
class LeastAttainedService:
    name = "las"

    def order(self, snapshot: Snapshot) -> IntArray:
        return ordered(snapshot, attained(snapshot))

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending:
        return _agnostic_choose(snapshot, job, free, feasible)


@register("max-min-share")
class MaxMinShare:
    name = "max-min-share"

    def order(self, snapshot: Snapshot) -> IntArray:
        return ordered(snapshot, share_rate(snapshot))

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending:
        return _agnostic_choose(snapshot, job, free, feasible)
