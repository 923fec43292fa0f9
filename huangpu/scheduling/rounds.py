"""Time-sharing rounds (Gavel, OSDI '20): realise a fractional allocation over time.

A heterogeneity-aware policy (e.g. ``maxmin.max_min_allocation``) says job ``j`` should spend
a fraction ``X[j, k]`` of its time on chip type ``k``. In a pool run in rounds (say every
six minutes) each job either holds whole accelerators for the round or waits. Gavel's
mechanism: priority ``X[j, k] / (share of time j has received on k so far)``, highest first,
each job on at most one chip type per round, until every type is full. Over many rounds each
job's received share converges to ``X``. The caller (control for a pool marked for rounds, or
the simulator) preempts and resumes jobs between rounds; this module only plans.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.snapshot import FloatArray, IntArray


def plan_round(
    allocation: FloatArray, received_s: FloatArray, elapsed_s: float, sizes: IntArray,
    capacity: IntArray,
) -> IntArray:  # fmt: skip
    """Chip type per job for the next round (-1: waits). Deterministic: ties by job, type."""
    jobs, types = allocation.shape
    share = received_s / max(elapsed_s, 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Never ran there yet: infinitely behind, so any positive allocation goes first.
        priority = np.where(share > 0, allocation / share, np.inf)
    priority = np.where(allocation > 0, priority, -np.inf)
    order = np.lexsort((np.arange(jobs * types) % types, np.arange(jobs * types) // types,
                        -priority.reshape(-1)))  # fmt: skip
    left = capacity.astype(np.int64).copy()
    chosen = np.full(jobs, -1, dtype=np.int64)
    for flat in order.tolist():
        j, k = divmod(flat, types)
        if priority[j, k] == -np.inf:
            break
        if chosen[j] < 0 and left[k] >= sizes[j]:
            chosen[j] = k
            left[k] -= int(sizes[j])
    return chosen
