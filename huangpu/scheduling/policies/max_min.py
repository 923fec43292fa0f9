"""Max-min fairness (Gavel's ``max_min_fairness_perf`` over classes) for the live cycle.

Each cycle solves ``maxmin.max_min_allocation`` for classes = (org, workload class): demand is
the accelerators of their pending and running jobs, capacity every accelerator of each chip
model, weights the org weights spread over the org's classes. The LP says how many
accelerators of which chip each class *should* hold. Then:
- order: orgs furthest below their fair normalised compute first (starvation guard, then
  priority still come first), then submit time;
- where: chips the class's fair allocation includes first, cheapest per unit of work among
  them; other chips only when those are full.
Running jobs count as the default workload class (the running table has no class column).
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.maxmin import max_min_allocation
from huangpu.scheduling.metrics import Block
from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.base import MISS, CellPolicyBase
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot

OFF_PLAN = 1e100  # ranks after every chip in the class's fair share, before deadline misses


class _Plan:
    def __init__(self, s: Snapshot) -> None:
        n_cls = len(s.market.classes)
        group = s.job_org * n_cls + s.job_class
        r = s.running
        run_group = r.org[r.alloc_run] * n_cls  # default class
        keys, inverse = np.unique(np.concatenate([group, run_group]), return_inverse=True)
        self.job_group = inverse[: s.n_jobs]
        demand: FloatArray = np.bincount(
            inverse,
            weights=np.concatenate(
                [(s.job_accel * s.job_nodes).astype(np.float64), r.alloc_count.astype(np.float64)]
            ),
            minlength=len(keys),
        ).astype(np.float64)
        orgs = keys // n_cls
        per_org = np.bincount(orgs, minlength=s.n_orgs)
        weight = s.quotas.weight[orgs] / np.maximum(per_org[orgs], 1)
        weight = weight / weight.max() if weight.size else weight
        rates = s.market.throughput[keys % n_cls]
        capacity: FloatArray = np.bincount(
            s.node_chip, weights=s.node_free.astype(np.float64), minlength=len(s.chips)
        ).astype(np.float64)
        if r.n:
            capacity += np.bincount(
                s.node_chip[r.alloc_node], weights=r.alloc_count, minlength=len(s.chips)
            )
        self.target = max_min_allocation(demand, weight, rates, capacity)
        ncu = s.market.chip_ncu
        fair = np.bincount(orgs, weights=self.target @ ncu, minlength=s.n_orgs)
        held = np.zeros(s.n_orgs)
        if r.n:
            np.add.at(held, r.org[r.alloc_run], r.alloc_count * ncu[s.node_chip[r.alloc_node]])
        # how far below its fair share each org is, as a fraction (1: gets nothing yet)
        self.deficit = np.where(fair > 0, (fair - held) / np.maximum(fair, 1e-300), 0.0)


@register("max-min-fairness")
class MaxMinFairness(CellPolicyBase):
    name = "max-min-fairness"

    def __init__(self) -> None:
        self._plan: tuple[int, _Plan] | None = None

    def plan(self, s: Snapshot) -> _Plan:
        if self._plan is None or self._plan[0] != id(s):
            self._plan = (id(s), _Plan(s))
        return self._plan[1]

    def tiebreak(self, s: Snapshot) -> list[FloatArray | IntArray]:
        return [-s.job_priority, -self.plan(s).deficit[s.job_org], s.job_submit]

    def rank_key(self, snapshot: Snapshot, block: Block, cells: Cells) -> FloatArray:
        plan = self.plan(snapshot)
        target = plan.target[plan.job_group[block.rows]]  # jobs × chips
        on_plan = np.take(target, cells.chip, axis=1) > 1e-9
        runtime = np.nan_to_num(block.runtime, nan=0.0)
        key = np.where(on_plan, block.cost, OFF_PLAN + block.cost)
        return np.asarray(np.where(block.misses, MISS + runtime, key), dtype=np.float64)
