"""Finish-time fairness (Themis, NSDI '20), in the form a cycle can apply.

A job's finish-time fairness is ``ρ = T_shared / T_ideal``: the time it will have spent in the
system (waited so far plus its runtime) over the time it would take alone on its best chip.
Jobs with the largest ρ, those treated worst so far, go first. Short jobs that waited long get
large ρ quickly, so they are not starved behind long ones. Unknown runtimes count as one hour.
Where: the cell that finishes the job soonest (fastest chip), cost breaking ties.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.metrics import Block
from huangpu.scheduling.policies import register
from huangpu.scheduling.policies.base import CellPolicyBase
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot

DEFAULT_RUNTIME_S = 3600.0


def finish_time_rho(s: Snapshot) -> FloatArray:
    ideal = np.where(np.isnan(s.job_runtime), DEFAULT_RUNTIME_S, s.job_runtime)
    waited = np.maximum(s.now - s.job_submit, 0.0)
    return np.asarray((waited + ideal) / ideal, dtype=np.float64)


@register("finish-time-fairness")
class FinishTimeFairness(CellPolicyBase):
    name = "finish-time-fairness"

    def tiebreak(self, s: Snapshot) -> list[FloatArray | IntArray]:
        return [-s.job_priority, -finish_time_rho(s), s.job_submit]

    def rank_key(self, snapshot: Snapshot, block: Block, cells: Cells) -> FloatArray:
        # Seconds first; the cost term (fen per unit, tiny next to seconds) breaks ties.
        runtime = np.where(
            np.isnan(block.runtime), 1.0 / np.maximum(block.speed, 1e-300), block.runtime
        )
        return np.asarray(runtime + 1e-9 * np.nan_to_num(block.cost, posinf=0.0), dtype=np.float64)
