"""Which nodes could ever take a job, and why none could: one mask code for cycle and submit.

The mask is built in three cumulative stages (chip, then memory, then pool), vectorised over
jobs × nodes. The stages double as the explanation: the first stage that leaves no node names
the ``PendingReason``. ``run_cycle`` uses ``feasible_nodes`` for placement and
``structural_reason`` for jobs it cannot place; ``never_fits`` applies the same code at submit
time to a *capacity* snapshot (every device of every node listed as free), so a job that no pool
could ever run is refused with the reason instead of waiting forever.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from huangpu.scheduling.result import Pending, PendingReason
from huangpu.scheduling.snapshot import BoolArray, IntArray, Snapshot


class NodeStages(NamedTuple):
    chip: BoolArray  # jobs × nodes: the node's chip is one the job accepts
    memory: BoolArray  # ... and it has enough memory per accelerator
    pool: BoolArray  # ... and its pool is allowed: the static feasibility mask


def node_stages(s: Snapshot, jobs: IntArray) -> NodeStages:
    """The three cumulative masks for the given job rows (jobs × nodes each)."""
    # np.take keeps rows C-contiguous; fancy indexing on axis 1 returns Fortran order, and the
    # mixed-order ``&`` that follows runs ten times slower on large blocks.
    chip = np.take(s.job_chip_mask[jobs], s.node_chip, axis=1)
    memory = chip & (s.node_mem_gib[None, :] >= s.job_min_mem[jobs, None])
    pool = memory & np.take(s.job_pool_mask[jobs], s.node_pool, axis=1)
    residency = s.job_residency[jobs]
    if (residency >= 0).any():
        # Data residency is checked here as well as in the pool mask control builds, so no
        # policy and no caller mistake can ever move such a job out of its region.
        home = s.pool_region[s.node_pool]
        pool &= (residency[:, None] < 0) | (home[None, :] == residency[:, None])
    return NodeStages(chip, memory, pool)


def feasible_nodes(s: Snapshot, jobs: IntArray) -> BoolArray:
    """jobs × nodes: chip accepted, memory enough and pool allowed, ignoring what is free."""
    return node_stages(s, jobs).pool


def domain_counts(s: Snapshot, nodes: BoolArray) -> IntArray:
    """How many of the marked nodes each interconnect domain holds."""
    return np.bincount(s.node_domain[nodes], minlength=len(s.domains)).astype(np.int64)


def _names(names: tuple[str, ...], indices: IntArray) -> str:
    return ", ".join(names[int(i)] for i in indices)


def structural_reason(s: Snapshot, job: int, capacity: IntArray | None) -> Pending | None:
    """Why no amount of waiting lets ``job`` run on these nodes, or None if something might.

    ``capacity`` is the devices each node could ever offer (total devices at submit time).
    Pass None when only free counts are known (in the cycle): the per-node size check is then
    skipped, and the gang check counts nodes by chip, memory and pool alone.
    """
    key = s.job_keys[job]
    accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
    chip, memory, pool = (stage[0] for stage in node_stages(s, np.array([job])))
    if not chip.any():
        chips = _names(s.chips, np.flatnonzero(s.job_chip_mask[job])) or "none"
        return Pending(key, PendingReason.NO_MATCHING_CHIP, {"chips": chips})
    if not memory.any():
        return Pending(
            key,
            PendingReason.INSUFFICIENT_MEMORY,
            {
                "min_memory_gib": float(s.job_min_mem[job]),
                "largest_memory_gib": float(s.node_mem_gib[chip].max()),
            },
        )
    if not pool.any():
        pools = _names(s.pools, np.unique(s.node_pool[memory]))
        return Pending(key, PendingReason.NO_POOL_ALLOWED, {"pools": pools})
    big = pool
    if capacity is not None:
        big = pool & (capacity >= accel)
        if not big.any():
            return Pending(
                key,
                PendingReason.TOO_MANY_ACCELERATORS_PER_NODE,
                {"accelerators": accel, "largest_node": int(capacity[pool].max())},
            )
    if nodes > 1:
        largest = int(domain_counts(s, big).max())
        if largest < nodes:
            return Pending(
                key,
                PendingReason.GANG_DOES_NOT_FIT,
                {"nodes": nodes, "accelerators": accel, "largest_domain": largest},
            )
    return None


def never_fits(capacity: Snapshot, job: int = 0) -> Pending | None:
    """None if some pool could ever run ``job``; otherwise the reason none ever could.

    ``capacity`` lists every node with *all* its devices free (what an idle city offers),
    e.g. ``builder.add_node(p, key, chip, domain, list(range(total)), mem)``.
    """
    return structural_reason(capacity, job, capacity.node_free)
