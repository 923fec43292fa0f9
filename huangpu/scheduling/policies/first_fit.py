"""First-fit: the simplest honest policy, and the baseline every other policy is measured by.

- Order: priority high to low, then submit time, then job key (so ties never depend on the
  order the store returned rows in).
- Placement: a job takes exactly ``nodes`` nodes with ``accelerators`` free each, never spread
  thinner. It goes to the first pool, in pool order, that has an interconnect domain holding
  that many such nodes; there it takes the domain whose first such node comes first, and its
  first ``nodes`` such nodes, in node order. A one-node job is the same rule with a domain of
  one, so single jobs and gangs share one code path. All-or-nothing: no partial gangs.
- Devices: the lowest free device indices of each node first.
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.feasibility import domain_counts, structural_reason
from huangpu.scheduling.policies import register
from huangpu.scheduling.result import Pending, PendingReason, Placement
from huangpu.scheduling.snapshot import BoolArray, IntArray, Snapshot


def first_fit_nodes(s: Snapshot, candidates: BoolArray, nodes: int) -> IntArray | None:
    """The node rows first-fit takes among ``candidates``, or None if no domain has enough."""
    enough = candidates & (domain_counts(s, candidates) >= nodes)[s.node_domain]
    if not enough.any():
        return None
    # Nodes are grouped by pool in pool order, so the first node found is in the first pool.
    domain = s.node_domain[int(np.argmax(enough))]
    return np.flatnonzero(enough & (s.node_domain == domain))[:nodes].astype(np.int64)


@register("first-fit")
class FirstFit:
    name = "first-fit"

    def order(self, snapshot: Snapshot) -> IntArray:
        keys = np.array(snapshot.job_keys, dtype=str)
        # lexsort sorts by the last key first.
        order = np.lexsort((keys, snapshot.job_submit, -snapshot.job_priority))
        return order.astype(np.int64)

    def choose(
        self, snapshot: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Placement | Pending:
        s = snapshot
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        chosen = first_fit_nodes(s, feasible & (free >= accel), nodes)
        if chosen is None:
            return structural_reason(s, job, None) or self._capacity_reason(s, job, free, feasible)
        devices: list[tuple[str, int]] = []
        for n in chosen.tolist():
            # Free only ever shrinks by what this cycle took, lowest indices first.
            used = int(s.node_free[n] - free[n])
            key = s.node_keys[n]
            devices.extend((key, d) for d in s.node_free_devices[n][used : used + accel])
        return Placement(
            job_key=s.job_keys[job],
            pool_index=int(s.node_pool[chosen[0]]),
            node_keys=tuple(s.node_keys[n] for n in chosen.tolist()),
            devices=tuple(devices),
        )

    def _capacity_reason(
        self, s: Snapshot, job: int, free: IntArray, feasible: BoolArray
    ) -> Pending:
        key = s.job_keys[job]
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        at_start = first_fit_nodes(s, feasible & (s.node_free >= accel), nodes)
        if at_start is not None:
            pool = s.pools[int(s.node_pool[at_start[0]])]
            return Pending(key, PendingReason.BLOCKED_BY_JOBS_AHEAD, {"pool": pool})
        args: dict[str, int | float | str] = {"accelerators": accel, "nodes": nodes}
        if nodes == 1:
            # The largest free block on any node the job could use, and where it is.
            room = np.where(feasible, free, -1)
            best = int(np.argmax(room))
            largest, pool_index = int(room[best]), int(s.node_pool[best])
        else:
            counts = domain_counts(s, feasible & (free >= accel))
            domain = int(np.argmax(counts))
            largest, pool_index = int(counts[domain]), int(s.domain_pool[domain])
        args["largest_free"] = largest
        if largest > 0:
            args["pool"] = s.pools[pool_index]
        return Pending(key, PendingReason.WAITING_FOR_CAPACITY, args)
