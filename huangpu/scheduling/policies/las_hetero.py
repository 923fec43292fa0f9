"""``las-hetero``: least attained service, placed where each job runs fastest relative to its
own best chip (Gavel's effective-throughput idea, with attained service deciding who runs).

1. Value of running job j on chip c for the next round: ``rel[j, c] / (attained_j + 60)``,
   where ``rel`` is the rate on c over the job's rate on its best accepted chip and attained
   service is the org's usage over its weight (NCU·s). Why: job sizes are unknown and
   heavy-tailed, so the expected remaining work grows with the service already received
   (the reason LAS approximates shortest-remaining-first, Tiresias NSDI '19); the ratio is
   the share of its expected remainder a job finishes per second on that chip. The 60 NCU·s
   only keeps new jobs finite (a minute of service: a resolution, not a tuning knob).
2. Devices go greedily to the highest values, one (job, chip) pair at a time, each job on
   one chip model: a recommendation model as fast on a K80 as on a V100 takes the K80, and a
   job that would crawl on the only free chip leaves it to one that runs well there.
3. Order: assigned jobs by value, then the rest by least attained service. Each job tries
   its assigned chip first, then the others by ``rel``; on a chip, the node with the fewest
   free devices that fits (gangs: the tightest domain).
"""

from __future__ import annotations

import numpy as np

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

# Seconds of NCU service that keep a new job's value finite (see the module docstring).
RESOLUTION = 60.0


def relative_speed(s: Snapshot) -> FloatArray:
    """jobs × chips: rate on the chip over the job's best accepted chip (0: not accepted)."""
    rates = s.market.throughput[s.job_class] * s.job_chip_mask
    best = rates.max(axis=1, keepdims=True)
    return np.asarray(rates / np.where(best > 0, best, 1.0), dtype=np.float64)


def assign_greedy(s: Snapshot, value: FloatArray) -> dict[int, int]:
    """Job row → chip: the highest (job, chip) values first, while the chip has room."""
    room = np.bincount(s.node_chip, weights=s.node_free, minlength=len(s.chips))
    cap = room.astype(np.int64).tolist()
    demand = (s.job_accel * s.job_nodes).tolist()
    n_chips = len(s.chips)
    flat = value.ravel()
    chosen: dict[int, int] = {}
    left = sum(cap)
    for f in np.argsort(-flat, kind="stable").tolist():
        if left <= 0 or flat[f] <= 0:
            break
        job, chip = divmod(f, n_chips)
        if job in chosen or cap[chip] < demand[job]:
            continue
        chosen[job] = chip
        cap[chip] -= demand[job]
        left -= demand[job]
    return chosen


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

    def value(self, s: Snapshot, rel: FloatArray) -> FloatArray:
        """jobs × chips: what running the job on the chip for the next round is worth."""
        return np.asarray(rel / (attained(s) + RESOLUTION)[:, None], dtype=np.float64)

    def fallback_order(self, s: Snapshot) -> IntArray:
        """The order of jobs left without a chip (they take what the others leave)."""
        return ordered(s, attained(s))

    def order(self, snapshot: Snapshot) -> IntArray:
        s = snapshot
        rel = relative_speed(s)
        value = self.value(s, rel)
        chosen = assign_greedy(s, value)
        self._rank = chip_ranks(s, rel, chosen)
        # Node score = chip rank × scale + free devices: chip preference first, then best fit.
        self._scale = int(s.node_free.max(initial=0)) + 1
        key = np.empty(s.n_jobs)
        key[self.fallback_order(s)] = np.arange(s.n_jobs)  # unassigned: fallback position ≥ 0
        for job, chip in chosen.items():
            key[job] = -value[job, chip]  # assigned: before all others, highest value first
        return ordered(s, key)

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
