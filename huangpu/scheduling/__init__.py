"""Pure scheduling: a ``Snapshot`` in, placements and ordered pending reasons out.

Imports only ``huangpu.core`` and numpy; no I/O and no clock (``Snapshot.now`` is given).

    builder = SnapshotBuilder(chips=["a100"], pools=["sh-a100"], now=clock.now())
    builder.add_node(0, "n1", 0, "rack-1", [0, 1, 2, 3], 80.0)
    builder.add_job("job-1", 2, 1, 40.0, [0], org_index=0, priority=0, submit_time=t)
    result = run_cycle(builder.build(), "first-fit")
"""

from huangpu.scheduling.cycle import run_cycle
from huangpu.scheduling.engine import CellPolicy
from huangpu.scheduling.feasibility import (
    NodeStages,
    feasible_nodes,
    never_fits,
    node_stages,
    structural_reason,
)
from huangpu.scheduling.policies import Policy, UnknownPolicy, get_policy, policy_names, register
from huangpu.scheduling.policies.max_min import reset_solver_state
from huangpu.scheduling.result import (
    CycleResult,
    CycleStats,
    Pending,
    PendingReason,
    Placement,
    Preemption,
    PreemptReason,
    Reservation,
)
from huangpu.scheduling.snapshot import Snapshot, SnapshotBuilder, SnapshotError
from huangpu.scheduling.tables import Market, Quotas, Running

__all__ = [
    "CellPolicy",
    "CycleResult",
    "CycleStats",
    "Market",
    "NodeStages",
    "Pending",
    "PendingReason",
    "Placement",
    "Policy",
    "PreemptReason",
    "Preemption",
    "Quotas",
    "Reservation",
    "Running",
    "Snapshot",
    "SnapshotBuilder",
    "SnapshotError",
    "UnknownPolicy",
    "feasible_nodes",
    "get_policy",
    "never_fits",
    "node_stages",
    "policy_names",
    "register",
    "reset_solver_state",
    "run_cycle",
    "structural_reason",
]
