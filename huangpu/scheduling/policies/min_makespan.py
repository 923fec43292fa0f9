"""``min-makespan``: finish a batch as early as possible on heterogeneous chips (Gavel's
``min_total_duration_perf``, OSDI '20 §4.1, realised without per-job history).

Each cycle (in a pool run in rounds: each round):

1. Plan. ``makespan.min_makespan_allocation`` over the jobs offered: the time fraction
   ``X[j, k]`` each job should get on each chip type so that all of them finish by the fluid
   makespan ``T``, from their remaining work (``job_work``) and whole-gang rates.
2. Order. Jobs by how much of the time they must run, ``Σ_k X[j, k]`` (1: on the critical
   path), then by remaining time on their best chip (longest first, Graham's LPT), then key.
   The plan is solved afresh each cycle from the work left, so a job passed over in one round
   needs a larger share in the next and rises in the order: the plan itself does what Gavel's
   per-job "time received so far" bookkeeping does, and the policy keeps no state.
3. Round. In that order each job takes room on a chip type its plan gives it time on
   (largest share first); only then do the jobs left over fill what is still free, each on
   the chip where it is relatively fastest (``plan_round``). A job pushed off its plan would
   otherwise take the place of a job planned there, and every such swap loses a little of
   the plan's efficiency, round after round. No device idles while work waits.
4. Place. Each job tries its round's chip type first, then the others; on a chip, the
   fullest node that fits (gangs: the tightest interconnect domain).

It is meant for pools run in rounds (the simulator's Gavel presets), where every active
job is offered each round; event-driven, it plans over the waiting jobs and the free
devices only. Nothing is tuned to a trace: the only constant is the LP's tie-break weight.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.makespan import min_makespan_allocation
from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import (
    NO_ROOM,
    gang_nodes,
    placement,
    waiting,
)
from huangpu.scheduling.result import Pending, PendingReason, Placement
from huangpu.scheduling.snapshot import BoolArray, FloatArray, IntArray, Snapshot

PLANNED = 1e-6  # a share below this is the LP's rounding noise, not a plan


def gang_rates(s: Snapshot) -> FloatArray:
    """jobs × chips: progress per second of the whole job on each chip type (0: not accepted)."""
    per_device = s.market.throughput[s.job_class] * s.job_chip_mask
    return np.asarray(per_device * (s.job_accel * s.job_nodes)[:, None], dtype=np.float64)


@register("min-makespan")
class MinMakespan:
    name = "min-makespan"

    def __init__(self) -> None:
        self._rank: IntArray = np.zeros((0, 0), dtype=np.int64)
        self._fits: BoolArray = np.zeros(0, dtype=np.bool_)
        self.makespan_s = 0.0  # the fluid makespan of the last plan, for reports and tests

    def order(self, snapshot: Snapshot) -> IntArray:
        s = snapshot
        rates = gang_rates(s)
        sizes = (s.job_accel * s.job_nodes).astype(np.float64)
        capacity = np.bincount(
            s.node_chip, weights=s.node_free.astype(np.float64), minlength=len(s.chips)
        ).astype(np.float64)
        work = np.nan_to_num(s.job_work, nan=np.inf, posinf=np.inf)
        known = np.isfinite(work)
        self.makespan_s, share = min_makespan_allocation(
            np.where(known, work, 0.0), rates, sizes, capacity
        )
        self._fits = np.asarray(
            ((rates > 0) & (sizes[:, None] <= capacity[None, :])).any(axis=1), dtype=np.bool_
        )
        best = rates.max(axis=1)
        alone = np.where(best > 0, work / np.where(best > 0, best, 1.0), 0.0)
        # Unknown work counts as the longest and as fully critical.
        urgency = np.where(known, share.sum(axis=1), 1.0)
        alone = np.where(known, alone, np.inf)
        keys = np.array(s.job_keys, dtype=str)
        queue = np.lexsort((keys, -alone, -np.round(urgency, 9), -s.job_priority))
        rel = rates / np.where(best > 0, best, 1.0)[:, None]
        chip, order = plan_round(queue, share, rel, sizes, capacity)
        # Chip preference per job: this round's chip, then planned chips by share, then the
        # rest by relative speed.
        pref = np.where(share > PLANNED, 2.0 + share, rel)
        pref[chip >= 0, chip[chip >= 0]] = 4.0
        prefs = np.argsort(-pref, axis=1, kind="stable")
        rank = np.empty_like(prefs)
        np.put_along_axis(rank, prefs, np.arange(len(s.chips))[None, :], axis=1)
        self._rank = rank.astype(np.int64)
        return order

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending:
        s = snapshot
        if self._rank.shape[0] != s.n_jobs:  # choose called without order: plan afresh
            self.order(s)
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        fits = feasible & (free >= accel)
        if not fits.any():
            if self._fits[job] and feasible.any() and not free.any():
                # Every device is taken and the job fits the pool when it empties: capacity,
                # without the structural checks (hundreds of jobs wait like this each round).
                args: dict[str, int | float | str] = {
                    "accelerators": accel, "nodes": nodes, "largest_free": 0,
                }  # fmt: skip
                return Pending(s.job_keys[job], PendingReason.WAITING_FOR_CAPACITY, args)
            return waiting(s, job, feasible, free)
        node_rank = self._rank[job][s.node_chip]
        if nodes == 1:
            # Preferred chip first, then the fullest node that fits (big holes stay whole).
            scale = int(s.node_free.max(initial=0)) + 1
            score = np.where(fits, node_rank * scale + free, NO_ROOM)
            return placement(s, job, [int(score.argmin())], free)
        for rank in np.unique(node_rank[fits]).tolist():
            gang = gang_nodes(s, fits & (node_rank == rank), nodes)
            if gang is not None:
                return placement(s, job, gang.tolist(), free)
        return waiting(s, job, feasible, free)


def plan_round(
    queue: IntArray, share: FloatArray, rel: FloatArray, sizes: FloatArray, free: FloatArray
) -> tuple[IntArray, IntArray]:
    """(chip type per job or -1, job order) for one round, by device counts per chip type.

    First pass, in ``queue`` order: each job on a chip type its plan gives it time on, largest
    share first, while that type has room. Second pass: jobs left over fill what is left, on
    the chip where they are relatively fastest. A job that runs off its plan would take the
    place of a job planned there, so off-plan placements wait for the second pass.
    """
    left = free.astype(np.float64).copy()
    chip = np.full(queue.size, -1, dtype=np.int64)
    first: list[int] = []
    planned = np.argsort(-share, axis=1, kind="stable")
    for j in queue.tolist():
        for k in planned[j].tolist():
            if share[j, k] <= PLANNED:
                break
            if left[k] >= sizes[j]:
                chip[j] = k
                left[k] -= sizes[j]
                first.append(j)
                break
    second: list[int] = []
    by_speed = np.argsort(-rel, axis=1, kind="stable")
    for j in queue.tolist():
        if chip[j] >= 0 or not left.any():
            continue
        for k in by_speed[j].tolist():
            if rel[j, k] > 0 and left[k] >= sizes[j]:
                chip[j] = k
                left[k] -= sizes[j]
                second.append(j)
                break
    placed = np.array(first + second, dtype=np.int64)
    rest = queue[chip[queue] < 0]
    return chip, np.concatenate([placed, rest]).astype(np.int64)
