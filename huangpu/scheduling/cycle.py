"""One scheduling cycle: snapshot in, decisions out. Pure: no I/O, and ``now`` comes in.

The recipe is one function, numbered as Kueue numbers ``schedule()``, so a reader can follow a
job from the queue to its decision without jumping between files.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from huangpu.scheduling.engine import CellPolicy, run_cells
from huangpu.scheduling.feasibility import feasible_nodes
from huangpu.scheduling.policies import Policy, get_policy
from huangpu.scheduling.result import CycleResult, CycleStats, Pending, Placement
from huangpu.scheduling.snapshot import IntArray, Snapshot, SnapshotError

# Jobs are scored against all nodes in blocks, so the jobs × nodes mask stays bounded
# (512 jobs × 20,000 nodes is 10 MB) however long the queue grows.
BLOCK = 512


def _check_order(order: IntArray, n_jobs: int, policy: str) -> None:
    if order.shape != (n_jobs,) or not np.array_equal(np.sort(order), np.arange(n_jobs)):
        raise SnapshotError("snapshot", "order", f"policy {policy!r} did not return a permutation")


def run_cycle(snapshot: Snapshot, policy: Policy | CellPolicy | str = "first-fit") -> CycleResult:
    """Place what fits now; give every other job its reason. Same snapshot, same result."""
    # 1. Validate. A Snapshot checks itself when built and is read-only afterwards, so what is
    #    left to check is the policy.
    chosen = get_policy(policy) if isinstance(policy, str) else policy
    s = snapshot
    if isinstance(chosen, CellPolicy):
        # The heterogeneity-, cost- and quota-aware policies share the cell engine's recipe.
        return run_cells(s, chosen)

    # 2. Order the queue.
    order = np.asarray(chosen.order(s), dtype=np.int64)
    _check_order(order, s.n_jobs, chosen.name)

    # 3. For each job: feasibility (vectorised per block), then place it or give a reason.
    free = s.node_free.copy()
    node_index = {key: i for i, key in enumerate(s.node_keys)}
    placements: list[Placement] = []
    pending: list[Pending] = []
    pending_rows: list[int] = []
    for start in range(0, s.n_jobs, BLOCK):
        rows = order[start : start + BLOCK]
        mask = feasible_nodes(s, rows)
        for i, job in enumerate(rows.tolist()):
            decision = chosen.choose(s, job, free, mask[i])
            if isinstance(decision, Pending):
                pending.append(decision)
                pending_rows.append(job)
                continue
            keys = decision.node_keys
            if len(keys) == 1:
                free[node_index[keys[0]]] -= int(s.job_accel[job])
            else:
                taken = np.array([node_index[k] for k in keys], dtype=np.int64)
                free[taken] -= int(s.job_accel[job])
            placements.append(decision)

    # 4. Stats, for the wall screen and the cycle log.
    oldest = float(s.now - s.job_submit[pending_rows].min()) if pending_rows else 0.0
    stats = CycleStats(
        jobs=s.n_jobs,
        placed=len(placements),
        pending=len(pending),
        devices_placed=sum(len(p.devices) for p in placements),
        free_devices_before=int(s.node_free.sum()),
        free_devices_after=int(free.sum()),
        oldest_pending_wait_s=max(oldest, 0.0),
        by_reason=dict(sorted(Counter(p.reason.name for p in pending).items())),
    )
    return CycleResult(tuple(placements), tuple(pending), stats)
