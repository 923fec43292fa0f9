"""FGD's allocation experiment on the Alibaba trace: pods arrive one by one (inflated until a
given % of GPU capacity is requested, never departing); each is placed by a packer or fails.
The metric is GPUs allocated (%) against GPUs requested so far (%), per seed.

The packers are ``huangpu.scheduling.packing``'s (FGD and BestFit), the same pure code the
live cycle uses for fractional GPUs; the simulator only feeds them the trace. CPU is honoured,
memory is not modelled by the packers (FGD's own simulator checks it too; we say so in the
results).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from huangpu.scheduling.packing import BestFit, FgdPacker, TaskType, fragmentation
from huangpu.scheduling.packing_node_fit import NodeBestFit
from huangpu.sim.alibaba import Node, Pod, inflate

PACKERS = {
    "fgd": FgdPacker,
    "best-fit": NodeBestFit,
    "gpu-best-fit": BestFit,
}


@dataclass
class AllocationRun:
    packer: str
    seed: int
    percent_requested: list[float] = field(default_factory=list)  # 0..percent, step 1
    percent_allocated: list[float] = field(default_factory=list)
    pods: int = 0
    failed: int = 0
    unallocated_gpus: float = 0.0
    fragmented_gpus: float = 0.0  # FGD's measure at the end: free GPU the typical task can't use


def target_workload(pods: Sequence[Pod]) -> list[TaskType]:
    """FGD's target workload: the trace's own task shapes, weighted by how often they occur."""
    counts = Counter((p.cpu_milli, p.gpu_request_milli) for p in pods)
    return [TaskType(cpu, gpu, float(n)) for (cpu, gpu), n in sorted(counts.items())]


def run(
    nodes: Sequence[Node], pods: Sequence[Pod], packer: str, percent: float = 130.0, seed: int = 42
) -> AllocationRun:
    width = max(n.gpus for n in nodes)
    gpu = np.full((len(nodes), width), -1, dtype=np.int64)
    for i, n in enumerate(nodes):
        gpu[i, : n.gpus] = 1000
    cpu = np.array([n.cpu_milli for n in nodes], dtype=np.int64)
    capacity = 1000.0 * sum(n.gpus for n in nodes)
    workload = target_workload(pods)
    p = PACKERS[packer](gpu, cpu, workload)
    out = AllocationRun(packer, seed)
    requested = allocated = 0.0
    next_mark = 0.0
    for pod in inflate(list(pods), sum(n.gpus for n in nodes), percent, seed):
        out.pods += 1
        requested += pod.gpu_request_milli
        if p.place(pod.cpu_milli, pod.gpu_request_milli) is None:
            out.failed += 1
        else:
            allocated += pod.gpu_request_milli
        while requested / capacity * 100 >= next_mark and next_mark <= percent:
            out.percent_requested.append(next_mark)
            out.percent_allocated.append(allocated / capacity * 100)
            next_mark += 1.0
    out.unallocated_gpus = (capacity - allocated) / 1000
    out.fragmented_gpus = float(fragmentation(p.cluster.gpu, p.cluster.cpu, workload).sum()) / 1000
    return out
