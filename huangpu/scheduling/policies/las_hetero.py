"""``las-hetero``: least attained service decides who runs; each runs where it is fastest
relative to its own best chip (Gavel's effective-throughput idea).

1. Order: least attained service first (usage per org over weight, NCU·s). Job sizes are
   unknown and heavy-tailed, and serving the least-served first approximates
   shortest-remaining-first without knowing sizes (Tiresias, NSDI '19).
2. The head of that order, as many devices as are free, is matched to chip models by one
   assignment that maximises the sum of normalised throughput (rate on the chip ÷ the job's
   rate on its best accepted chip), solved exactly with the Hungarian method (scipy). A
   recommendation model as fast on a K80 as on a V100 takes the K80 and leaves the V100 to a
   ResNet that runs six times faster there.
3. Each job tries its assigned chip first, then the others by normalised throughput; on a
   chip, the node with the fewest free devices that fits (gangs: the tightest domain).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import (
    NO_ROOM,
    attained,
    gang_nodes,
    ordered,
    placement,
    waiting,
)
from huangpu.scheduling.result import Pending, Placement
from huangpu.scheduling.snapshot import BoolArray, FloatArray, IntArray, Snapshot

# Above this many head jobs the exact assignment (O(n³)) is skipped and each job takes its
# best chip in order; a city cycle must stay within its time budget.
MAX_EXACT = 1500


def relative_speed(s: Snapshot) -> FloatArray:
    """jobs × chips: rate on the chip over the job's best accepted chip (0: not accepted)."""
    rates = s.market.throughput[s.job_class] * s.job_chip_mask
    best = rates.max(axis=1, keepdims=True)
    return np.asarray(rates / np.where(best > 0, best, 1.0), dtype=np.float64)


def assign_head(
    s: Snapshot, order: IntArray, rel: FloatArray, weight: FloatArray | None = None
) -> dict[int, int]:
    """Job row → chip for the head of ``order`` that the free devices can hold, maximising
    the sum of ``rel`` (times ``weight`` per job, when given)."""
    free_by_chip = np.bincount(s.node_chip, weights=s.node_free, minlength=len(s.chips))
    demand = (s.job_accel * s.job_nodes)[order]
    head = order[np.cumsum(demand) <= free_by_chip.sum()]
    head = head[(s.job_accel * s.job_nodes)[head] == 1]  # gangs pick greedily in choose
    if not head.size or head.size > MAX_EXACT:
        return {}
    # One column per free device of each chip, at most one per head job.
    per_chip = np.minimum(free_by_chip.astype(np.int64), head.size)
    slots = np.repeat(np.arange(len(s.chips)), per_chip)
    value = rel[head] if weight is None else rel[head] * weight[head][:, None]
    rows, cols = linear_sum_assignment(value[:, slots], maximize=True)
    return {int(head[r]): int(slots[c]) for r, c in zip(rows, cols, strict=True)}


def chip_ranks(s: Snapshot, rel: FloatArray, assigned: dict[int, int]) -> IntArray:
    """jobs × chips: 0 for the chip a job should try first, then by normalised throughput."""
    prefs = np.argsort(-rel, axis=1, kind="stable")
    rank = np.empty_like(prefs)
    np.put_along_axis(rank, prefs, np.arange(len(s.chips))[None, :] + 1, axis=1)
    if assigned:
        jobs = np.fromiter(assigned.keys(), dtype=np.int64, count=len(assigned))
        chips = np.fromiter(assigned.values(), dtype=np.int64, count=len(assigned))
        rank[jobs, chips] = 0
    return rank.astype(np.int64)


@register("las-hetero")
class HeteroLeastAttainedService:
    name = "las-hetero"

    def __init__(self) -> None:
        self._rank: IntArray = np.zeros((0, 0), dtype=np.int64)
        self._scale = 1

    def head_order(self, s: Snapshot) -> IntArray:
        """Who runs first: least attained service."""
        return ordered(s, attained(s))

    def head_weight(self, s: Snapshot) -> FloatArray | None:
        """Per-job weight in the chip assignment (None: every head job counts the same)."""
        return None

    def order(self, snapshot: Snapshot) -> IntArray:
        s = snapshot
        order = self.head_order(s)
        rel = relative_speed(s)
        self._rank = chip_ranks(s, rel, assign_head(s, order, rel, self.head_weight(s)))
        # Node score = chip rank × scale + free devices: chip preference first, then best fit.
        self._scale = int(s.node_free.max(initial=0)) + 1
        return order

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending:
        s = snapshot
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        fits = feasible & (free >= accel)
        if self._rank.shape[0] != s.n_jobs:  # choose called without order: rank afresh
            self.order(s)
        node_rank = self._rank[job][s.node_chip]
        if nodes == 1:
            score = np.where(fits, node_rank * self._scale + free, NO_ROOM)
            best = int(score.argmin())
            if score[best] != NO_ROOM:
                return placement(s, job, [best], free)
            return waiting(s, job, feasible, free)
        for rank in np.unique(node_rank[fits]).tolist():
            gang = gang_nodes(s, fits & (node_rank == rank), nodes)
            if gang is not None:
                return placement(s, job, gang.tolist(), free)
        return waiting(s, job, feasible, free)
