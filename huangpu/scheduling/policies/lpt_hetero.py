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

    def value(self, s: Snapshot, rel: FloatArray) -> FloatArray:
        # The longest remaining job first; its chip by relative speed.
        left = remaining_best_s(s)
        weight = np.where(
            np.isinf(left), 1.0, left / max(float(left[np.isfinite(left)].max(initial=1.0)), 1.0)
        )
        return np.asarray(rel * (1.0 + weight)[:, None], dtype=np.float64)

    def fallback_order(self, s: Snapshot) -> IntArray:
        return ordered(s, -remaining_best_s(s))
