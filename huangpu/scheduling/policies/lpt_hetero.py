"""``lpt-hetero``: longest remaining time first, placed as ``las-hetero`` places (the head of
the queue matched to chip models by normalised throughput).

For a batch that must all finish (makespan), the job with the most work left decides when the
batch ends, so it must never wait (Graham's LPT rule); giving every running job the chip where
it is relatively fastest then maximises the work the whole city does per second. Remaining
time is ``job_work`` (progress units left, from the user's steps or history) over the job's
rate on its best accepted chip; a job with unknown work counts as the longest. In the chip
assignment each job's relative speed is weighted by its remaining time, so the jobs that
decide the makespan get their best chips first.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.fair_share_order import ordered
from huangpu.scheduling.policies.las_hetero import HeteroLeastAttainedService
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot


def remaining_best_s(s: Snapshot) -> FloatArray:
    rates = s.market.throughput[s.job_class] * s.job_chip_mask
    best = rates.max(axis=1) * s.job_accel * s.job_nodes
    left = np.where(best > 0, s.job_work / np.where(best > 0, best, 1.0), np.inf)
    return np.asarray(np.where(np.isnan(left), np.inf, left), dtype=np.float64)


@register("lpt-hetero")
class HeteroLongestRemainingFirst(HeteroLeastAttainedService):
    name = "lpt-hetero"

    def head_order(self, s: Snapshot) -> IntArray:
        return ordered(s, -remaining_best_s(s))

    def head_weight(self, s: Snapshot) -> FloatArray | None:
        # The longer a job's remainder, the more its chip matters to when the batch ends.
        left = remaining_best_s(s)
        finite = left[np.isfinite(left)]
        top = float(finite.max()) if finite.size else 1.0
        return np.asarray(np.where(np.isfinite(left), left, top) / max(top, 1e-9))
