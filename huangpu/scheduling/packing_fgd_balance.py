"""FGD with CPU-balance and packing tie-breaks ("fgd-balance").

FGD's artifact scores a node by squashing the fragmentation change ΔF into an integer,
``⌊100·sigmoid(−ΔF/1000)⌋`` (``packing.k8s_score``), and the Kubernetes scheduler picks *at
random* among the nodes with the top score. Many nodes tie: every node where ΔF is the same
(a whole-GPU task on any node with a free GPU and no partly used one, a CPU-only task on any
node with CPU to spare) and every node whose ΔF is within one score step.

ΔF sees CPU only through the typical tasks that no longer fit *now*. What strands GPUs at high
load is a node whose free CPU is too small for the work its free GPUs will take. With ρ the
target workload's CPU per GPU milli (Σ p·cpu / Σ p·gpu over its task types), a node's CPU
deficit is ``D(n) = max(0, ρ·free_gpu − free_cpu)``: the CPU its free GPUs are short of.
``FgdBalance`` keeps FGD's score as the first criterion and replaces the random pick, among the
top-score nodes, with

1. the smallest increase ΔD of the CPU deficit (the CPU analogue of FGD's gradient), then
2. best fit: the fewest free GPU milli after the task, then the fewest free CPU, then
3. the lowest node index.

It adds no constant of its own (the score is FGD's; ρ comes from the same target workload FGD
uses) and is deterministic. ``FgdPack`` is the same without step 1 (an ablation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from huangpu.scheduling.packing import FULL, BoolArray, FgdPacker, TaskType, k8s_score
from huangpu.scheduling.snapshot import FloatArray, IntArray


def gpu_request(gpu: int) -> int:
    """GPU milli a task takes: its share of one GPU, or whole GPUs × 1000."""
    return gpu if gpu < FULL else FULL * (gpu // FULL)


def cpu_per_gpu(workload: Sequence[TaskType]) -> float:
    """ρ: CPU milli the target workload asks for per GPU milli (0 when it asks for no GPU)."""
    gpu = sum(t.weight * gpu_request(t.gpu_milli) for t in workload)
    return sum(t.weight * t.cpu_milli for t in workload) / gpu if gpu > 0 else 0.0


class FgdPack(FgdPacker):
    """FGD's score; ties broken by best fit (fewest free GPU, then CPU, after the task)."""

    def _top(self, delta: FloatArray, feasible: BoolArray) -> IntArray:
        score = np.where(feasible, k8s_score(delta), -1.0)
        return np.flatnonzero(score == score.max())

    def _keys(self, tied: IntArray, cpu: int, gpu: int) -> list[FloatArray | IntArray]:
        """Sort keys, most significant first."""
        c = self.cluster
        gpu_left = np.maximum(c.gpu[tied], 0).sum(axis=1) - gpu_request(gpu)
        return [gpu_left, c.cpu[tied] - cpu, tied]

    def _choose(self, delta: FloatArray, feasible: BoolArray, cpu: int, gpu: int) -> int:
        tied = self._top(delta, feasible)
        if len(tied) == 1:
            return int(tied[0])
        keys = self._keys(tied, cpu, gpu)
        return int(tied[np.lexsort(keys[::-1])[0]])


class FgdBalance(FgdPack):
    """FGD's score; ties broken by the least CPU-deficit increase, then best fit."""

    def set_workload(self, workload: Sequence[TaskType]) -> None:
        super().set_workload(workload)
        self.rho = cpu_per_gpu(self.workload)

    def _keys(self, tied: IntArray, cpu: int, gpu: int) -> list[FloatArray | IntArray]:
        c = self.cluster
        gpu_before = np.maximum(c.gpu[tied], 0).sum(axis=1)
        cpu_before = c.cpu[tied]
        gpu_after, cpu_after = gpu_before - gpu_request(gpu), cpu_before - cpu
        deficit_after = np.maximum(0.0, self.rho * gpu_after - cpu_after)
        deficit_before = np.maximum(0.0, self.rho * gpu_before - cpu_before)
        return [deficit_after - deficit_before, gpu_after, cpu_after, tied]
