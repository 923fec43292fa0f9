"""What the cell-engine policies share: the starvation guard in the queue order, and the
default cell ranking (cheapest per unit of work, keeping to deadlines).

Subclasses change ``order`` (who goes first) or ``rank_key`` (where a job goes) and nothing
else; backfill, quotas and preemption are the engine's, the same for every policy.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.metrics import Block
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot

# A cell that misses the deadline ranks after every cell that meets it, by runtime among
# themselves (when nothing meets it, finish as early as possible).
MISS = 1e200


class CellPolicyBase:
    name = "cell-base"
    backfill = True
    preemption = True
    grace_s = 120.0  # seconds a preempted job gets to checkpoint
    min_runtime_s = 300.0  # thrash guard: younger jobs are never preempted
    max_preemptors = 8  # waiting jobs that may preempt per cycle, bounding the work
    starvation_s = 6 * 3600.0  # waiting longer than this puts a job ahead of every priority

    def tiebreak(self, s: Snapshot) -> list[FloatArray | IntArray]:
        """Sort keys after the starvation guard, most significant first."""
        return [-s.job_priority, s.job_submit]

    def order(self, snapshot: Snapshot) -> IntArray:
        s = snapshot
        starved = (s.now - s.job_submit > self.starvation_s).astype(np.int64)
        keys = np.array(s.job_keys, dtype=str)
        # lexsort sorts by the last key first: starved jobs first, then the policy's keys.
        columns = [keys, *reversed(self.tiebreak(s)), -starved]
        return np.lexsort(columns).astype(np.int64)

    def rank_key(self, snapshot: Snapshot, block: Block, cells: Cells) -> FloatArray:
        runtime = np.nan_to_num(block.runtime, nan=0.0)
        return np.asarray(np.where(block.misses, MISS + runtime, block.cost), dtype=np.float64)
