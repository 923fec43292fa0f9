"""``lpt-hetero``: longest remaining time first, placed as ``las-hetero`` places (the head of
the queue matched to chip models by normalised throughput).

For a batch that must all finish (makespan), the job with the most work left decides when the
batch ends, so it must never wait (Graham's LPT rule); giving every running job the chip where
it is relatively fastest then maximises the work the whole city does per second. Remaining
time is ``job_work`` (progress units left, from the user's steps or history) over the job's
rate on its best accepted chip; a job with unknown work counts as the longest.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import ordered
from huangpu.scheduling.policies.las_hetero import (
    HeteroLeastAttainedService,
    assign_head,
    chip_ranks,
    relative_speed,
)
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot


def remaining_best_s(s: Snapshot) -> FloatArray:
    rates = s.market.throughput[s.job_class] * s.job_chip_mask
    best = rates.max(axis=1) * s.job_accel * s.job_nodes
    left = np.where(best > 0, s.job_work / np.where(best > 0, best, 1.0), np.inf)
    return np.asarray(np.where(np.isnan(left), np.inf, left), dtype=np.float64)


@register("lpt-hetero")
class HeteroLongestRemainingFirst(HeteroLeastAttainedService):
    name = "lpt-hetero"

    def order(self, snapshot: Snapshot) -> IntArray:
        s = snapshot
        order = ordered(s, -remaining_best_s(s))
        rel = relative_speed(s)
        self._rank = chip_ranks(s, rel, assign_head(s, order, rel))
        self._scale = int(s.node_free.max(initial=0)) + 1
        return order
