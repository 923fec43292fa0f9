"""Max-min fairness (Gavel's ``max_min_fairness_perf`` over classes) for the live cycle.

Each cycle solves ``maxmin.max_min_allocation`` for classes = (org, workload class): demand is
the accelerators of their pending and running jobs, capacity every accelerator of each chip
model, weights the org weights spread over the org's classes. The LP says how many
accelerators of which chip each class *should* hold. Then:
- order: priority, then jobs whose org has received the smallest share of its fair rate
  first (usage per second in the system over the LP's NCU per second for the org), then
  submit time. This is Gavel's round priority (allocation
  over the fraction of time received), counted since arrival rather than since Gavel's
  last reset of received time;
- where: each cycle a chip drawn from the class's LP mix (its share of time on each chip),
  by a hash of (job, time), so that over many rounds a job runs on each chip in the LP's
  proportions; then the other chips of the mix, larger share first; other chips only when
  those are full.
Running jobs count as the default workload class (the running table has no class column).
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.maxmin import max_min_allocation, reset_solver
from huangpu.scheduling.metrics import Block
from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.base import MISS, CellPolicyBase
from huangpu.scheduling.policies.fair_share_order import ordered
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot

OFF_PLAN = 1e100  # ranks after every chip in the class's fair share, before deadline misses


class _Memo:
    """The last LP and its answer: rounds in which no job arrived or ended ask the same LP.
    One per process (a policy object lives for one cycle); a pure cache of a pure function."""

    def __init__(self) -> None:
        self._last: tuple[bytes, FloatArray] | None = None

    def solve(self, *arrays: FloatArray) -> FloatArray:
        key = b"|".join(a.tobytes() + str(a.shape).encode() for a in arrays)
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        answer = max_min_allocation(*arrays)
        self._last = (key, answer)
        return answer

    def forget(self) -> None:
        self._last = None


_MEMO = _Memo()


def reset_solver_state() -> None:
    """A cold LP solver and no remembered answer: what a run that must repeat to the last bit
    (a simulation: same trace and seed, same report) starts from. See ``maxmin._highs``."""
    _MEMO.forget()
    reset_solver()


@lru_cache(maxsize=1 << 16)
def _key_crc(key: str) -> int:
    """CRC-32 of ``key@``; ``crc32(now, _key_crc(key))`` is the CRC of ``key@now``."""
    return zlib.crc32(f"{key}@".encode())


def _groups(first: FloatArray, second: FloatArray) -> tuple[FloatArray, IntArray]:
    """``np.unique(np.stack([first, second]), axis=1, return_inverse=True)``: the distinct
    (first, second) pairs in sorted order, and each pair's group. By one lexsort: ``unique``
    along an axis sorts a structured copy, ten times slower at this size."""
    order = np.lexsort((second, first))
    a, b = first[order], second[order]
    new = np.ones(order.size, dtype=np.bool_)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    group = np.empty(order.size, dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    return np.stack([a[new], b[new]]), group


class _Plan:
    def __init__(self, s: Snapshot, memo: _Memo) -> None:
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
        capacity: FloatArray = np.bincount(
            s.node_chip, weights=s.node_free.astype(np.float64), minlength=len(s.chips)
        ).astype(np.float64)
        if r.n:
            capacity += np.bincount(
                s.node_chip[r.alloc_node], weights=r.alloc_count, minlength=len(s.chips)
            )
        # Classes of the same workload class and weight are interchangeable in the LP: solve it
        # once per such bundle and split each bundle's accelerators by demand. Every class
        # then gets the bundle's normalised throughput, as in a solution of the full LP (the
        # same max-min level; ε counts each class once), and Gavel's one-org-per-job load is
        # a 26-class LP rather than one with a class per job.
        bundles, bundle = _groups((keys % n_cls).astype(np.float64), weight)
        b_demand: FloatArray = np.bincount(
            bundle, weights=demand, minlength=bundles.shape[1]
        ).astype(np.float64)
        b_count = np.bincount(bundle, minlength=bundles.shape[1]).astype(np.float64)
        b_rates = s.market.throughput[bundles[0].astype(np.int64)]
        b_target = memo.solve(b_demand, bundles[1], b_rates, capacity, b_count)
        share = demand / np.maximum(b_demand[bundle], 1e-300)
        self.target = b_target[bundle] * share[:, None]
        # Each org's fair rate (NCU) under the LP, and the share of it received: usage per
        # second in the system (the LP-weighted form of ``share_rate``; Gavel's round priority,
        # allocation over fraction of time received) or, if larger, what it holds now.
        ncu = s.market.chip_ncu
        fair = np.bincount(orgs, weights=self.target @ ncu, minlength=s.n_orgs)
        held = np.zeros(s.n_orgs)
        if r.n:
            np.add.at(held, r.org[r.alloc_run], r.alloc_count * ncu[s.node_chip[r.alloc_node]])
        first = np.full(s.n_orgs, np.inf)
        np.minimum.at(first, s.job_org, s.job_submit)
        age = np.maximum(s.now - first, 1.0)
        received = np.maximum(s.quotas.decayed_usage / age, held)
        with np.errstate(divide="ignore", invalid="ignore"):
            behind = np.where(fair > 0, received / fair, np.inf)
        self.behind = behind[s.job_org]


@register("max-min-fairness")
class MaxMinFairness(CellPolicyBase):
    name = "max-min-fairness"

    def __init__(self) -> None:
        self._plan: tuple[int, _Plan] | None = None

    def plan(self, s: Snapshot) -> _Plan:
        if self._plan is None or self._plan[0] != id(s):
            self._plan = (id(s), _Plan(s, _MEMO))
        return self._plan[1]

    def order(self, snapshot: Snapshot) -> IntArray:
        # No age-based starvation guard: max-min fairness gives every org with work a share,
        # and a guard that puts every job older than 6 h first turns a continuous load into
        # first-come first-served (as for ``max-min-share``).
        return ordered(snapshot, self.plan(snapshot).behind)

    def rank_key(self, snapshot: Snapshot, block: Block, cells: Cells) -> FloatArray:
        plan = self.plan(snapshot)
        target = plan.target[plan.job_group[block.rows]]  # jobs × chips
        # The LP's mix for the job: the share of its time it should spend on each chip.
        mix = target / np.maximum(target.sum(axis=1, keepdims=True), 1e-300)
        # Draw this cycle's chip from the mix, by a hash of (job, now): over many rounds a job
        # runs on each chip in the LP's proportions, with no state kept in the policy.
        at = f"{snapshot.now:.3f}".encode()
        keys = snapshot.job_keys
        u = np.array([zlib.crc32(at, _key_crc(keys[r])) for r in block.rows.tolist()]) / 2**32
        drawn = (np.cumsum(mix, axis=1) <= u[:, None]).sum(axis=1)
        cell_mix = np.take(mix, cells.chip, axis=1)
        on_plan = cell_mix > 1e-9
        is_drawn = cells.chip[None, :] == drawn[:, None]
        # drawn chip first, then the other chips of the mix (larger share first, cheaper per
        # unit of work among equals), then chips off the plan
        key = np.where(
            on_plan,
            np.where(is_drawn, 0.0, 2.0 - cell_mix) + block.cost * 1e-12,
            OFF_PLAN + block.cost,
        )
        if not block.misses.any():
            return np.asarray(key, dtype=np.float64)
        runtime = np.nan_to_num(block.runtime, nan=0.0)
        return np.asarray(np.where(block.misses, MISS + runtime, key), dtype=np.float64)
