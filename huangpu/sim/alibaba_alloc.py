"""FGD's allocation experiment on the Alibaba trace: pods arrive one by one (the trace inflated
to a given % of GPU capacity as FGD's artifact does, ``alibaba.inflate_fgd``; nothing departs);
each is placed by a packer or fails. The metric is GPUs allocated (%) against GPUs requested
so far (%), per seed.

The packers are ``huangpu.scheduling.packing``'s, the same pure code the live cycle uses for
fractional GPUs; the simulator only feeds them the trace. A node must have the pod's CPU and
memory free and, for a GPU pod, a GPU model its ``gpu_spec`` accepts (FGD's filters).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from huangpu.scheduling.packing import BestFit, FgdK8s, FgdPacker, TaskType
from huangpu.scheduling.packing_fgd_balance import FgdBalance, FgdPack
from huangpu.scheduling.packing_node_fit import NodeBestFit
from huangpu.sim.alibaba import Node, Pod, inflate_fgd

PACKERS: dict[str, type[FgdPacker]] = {
    "fgd": FgdK8s,
    "fgd-exact": FgdPacker,
    "fgd-pack": FgdPack,
    "fgd-balance": FgdBalance,
    "best-fit": NodeBestFit,
    "gpu-best-fit": BestFit,
}

POPULARITY = 1.0  # FGD's paper: the whole trace distribution (its artifact cuts at 95%)


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
    seconds: float = 0.0

    @property
    def pods_per_second(self) -> float:
        return self.pods / self.seconds if self.seconds > 0 else 0.0


def task_shape(pod: Pod) -> tuple[int, int, tuple[str, ...]]:
    return pod.cpu_milli, pod.gpu_request_milli, pod.gpu_spec if pod.num_gpu else ()


def target_workload(pods: Sequence[Pod], popularity: float = POPULARITY) -> list[TaskType]:
    """FGD's target workload: the trace's most common task shapes (CPU, GPU, GPU models) that
    together cover ``popularity`` of its pods, weighted by how often they occur."""
    counts = Counter(task_shape(p) for p in pods)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out, covered = [], 0
    for (cpu, gpu, spec), n in ranked:
        if covered >= popularity * len(pods):
            break
        out.append(TaskType(cpu, gpu, float(n), spec))
        covered += n
    return out


def make_packer(
    nodes: Sequence[Node], pods: Sequence[Pod], packer: str, seed: int = 0
) -> FgdPacker:
    width = max(1, max(n.gpus for n in nodes))
    gpu = np.full((len(nodes), width), -1, dtype=np.int64)
    for i, n in enumerate(nodes):
        gpu[i, : n.gpus] = 1000
    cpu = np.array([n.cpu_milli for n in nodes], dtype=np.int64)
    mem = np.array([n.memory_mib for n in nodes], dtype=np.int64)
    models = [n.model for n in nodes]
    return PACKERS[packer](gpu, cpu, target_workload(pods), mem, models, seed)


def run(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    packer: str,
    percent: float = 130.0,
    seed: int = 42,
    progress: Callable[[int, int], None] | None = None,
) -> AllocationRun:
    start = time.perf_counter()
    capacity_gpus = sum(n.gpus for n in nodes)
    capacity = 1000.0 * capacity_gpus
    p = make_packer(nodes, pods, packer, seed)
    arrivals = inflate_fgd(list(pods), capacity_gpus, percent, seed)
    out = AllocationRun(packer, seed)
    requested = allocated = 0.0
    next_mark = 0.0
    for i, pod in enumerate(arrivals):
        out.pods += 1
        requested += pod.gpu_request_milli
        cpu, gpu, spec = task_shape(pod)
        if p.place(cpu, gpu, pod.memory_mib, spec) is None:
            out.failed += 1
        else:
            allocated += gpu
        while requested / capacity * 100 >= next_mark and next_mark <= percent:
            out.percent_requested.append(next_mark)
            out.percent_allocated.append(allocated / capacity * 100)
            next_mark += 1.0
        if progress is not None and i % 500 == 0:
            progress(i, len(arrivals))
    # The last mark can fall a few milli short of ``percent`` (no pod fits the rest).
    while next_mark <= percent:
        out.percent_requested.append(next_mark)
        out.percent_allocated.append(allocated / capacity * 100)
        next_mark += 1.0
    out.unallocated_gpus = (capacity - allocated) / 1000
    out.fragmented_gpus = p.total_fragmentation() / 1000
    out.seconds = time.perf_counter() - start
    return out
