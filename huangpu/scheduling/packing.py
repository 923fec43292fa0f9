"""Fractional-GPU packing with FGD, fragmentation gradient descent (Weng et al., ATC '23).

A task asks for ``gpu_milli`` of one GPU (0 < milli < 1000, shared) or whole GPUs (a multiple
of 1000), plus CPU. Given the *target workload* (task types and how common each is), a node's
fragmentation is the GPU capacity that the typical task could not use:

    F(n) = Σ_m p_m · F_m(n),  F_m(n) = all free GPU milli            if m cannot fit on n
                                      = free milli on GPUs with < m's  (fractional m)
                                      = free milli on partly used GPUs (whole-GPU m)
FGD places each task where it *increases* the cluster's fragmentation least, which leaves
fewer stranded slivers than best fit (the paper's Alibaba result: ~49% fewer unallocated GPUs
at the same load). Vectorised over nodes × GPUs × task types; the simulator drives it with the
Alibaba trace (``gpu_milli``). ``BestFit`` is the baseline it is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from huangpu.scheduling.snapshot import FloatArray, IntArray

FULL = 1000


@dataclass(frozen=True, slots=True)
class TaskType:
    cpu_milli: int
    gpu_milli: int  # < 1000: share of one GPU; else whole GPUs × 1000; 0: CPU only
    weight: float  # how common, e.g. its share of the trace's tasks


class _Cluster:
    def __init__(self, gpu_free: IntArray, cpu_free: IntArray) -> None:
        self.gpu = np.array(gpu_free, dtype=np.int64, copy=True)  # nodes × GPUs, −1: none
        self.cpu = np.array(cpu_free, dtype=np.int64, copy=True)
        if self.gpu.ndim != 2 or self.cpu.shape != (self.gpu.shape[0],):
            raise ValueError("gpu_free must be nodes × GPUs and cpu_free one entry per node")
        if np.any(self.gpu > FULL) or np.any(self.cpu < 0):
            raise ValueError("a GPU has at most 1000 milli free and CPU must be ≥ 0")

    def candidates(self, cpu: int, gpu: int) -> list[tuple[int, tuple[int, ...]]]:
        ok_cpu = self.cpu >= cpu
        if gpu == 0:
            return [(int(n), ()) for n in np.flatnonzero(ok_cpu)]
        if gpu < FULL:
            nodes, gpus = np.nonzero((self.gpu >= gpu) & ok_cpu[:, None])
            return [(int(n), (int(g),)) for n, g in zip(nodes, gpus, strict=True)]
        k = gpu // FULL
        out = []
        for n in np.flatnonzero(ok_cpu & ((self.gpu == FULL).sum(axis=1) >= k)).tolist():
            out.append((n, tuple(int(g) for g in np.flatnonzero(self.gpu[n] == FULL)[:k])))
        return out

    def take(self, node: int, gpus: tuple[int, ...], cpu: int, gpu: int) -> None:
        self.cpu[node] -= cpu
        for g in gpus:
            self.gpu[node, g] -= gpu if gpu < FULL else FULL


def fragmentation(gpu: IntArray, cpu: IntArray, workload: Sequence[TaskType]) -> FloatArray:
    """F(n) per node (GPU milli) for the target workload (weights normalised to 1)."""
    free = np.where(gpu > 0, gpu, 0)
    total = free.sum(axis=1).astype(np.float64)
    weights = np.array([t.weight for t in workload], dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else weights
    out = np.zeros(gpu.shape[0])
    for t, p in zip(workload, weights.tolist(), strict=True):
        if t.gpu_milli == 0:
            continue
        if t.gpu_milli < FULL:
            fits = (gpu >= t.gpu_milli).any(axis=1) & (cpu >= t.cpu_milli)
            part = np.where(free < t.gpu_milli, free, 0).sum(axis=1)
        else:
            fits = ((gpu == FULL).sum(axis=1) >= t.gpu_milli // FULL) & (cpu >= t.cpu_milli)
            part = np.where(free < FULL, free, 0).sum(axis=1)
        out += p * np.where(fits, part, total)
    return out


class FgdPacker:
    """Place tasks one by one where fragmentation grows least; ties: lowest node, then GPU."""

    def __init__(self, gpu_free: IntArray, cpu_free: IntArray, workload: Sequence[TaskType]):
        self.cluster = _Cluster(gpu_free, cpu_free)
        self.workload = tuple(workload)

    def place(self, cpu_milli: int, gpu_milli: int) -> tuple[int, tuple[int, ...]] | None:
        c = self.cluster
        options = c.candidates(cpu_milli, gpu_milli)
        if not options:
            return None
        # Every option at once: its node's row after the task, minus the row before.
        nodes = np.array([n for n, _ in options], dtype=np.int64)
        after_g, after_c = c.gpu[nodes].copy(), c.cpu[nodes] - cpu_milli
        for i, (_, gpus) in enumerate(options):
            for g in gpus:
                after_g[i, g] -= gpu_milli if gpu_milli < FULL else FULL
        before = fragmentation(c.gpu[nodes], c.cpu[nodes], self.workload)
        delta = fragmentation(after_g, after_c, self.workload) - before
        node, gpus = options[int(np.argmin(delta))]  # first minimum: lowest node, then GPU
        c.take(node, gpus, cpu_milli, gpu_milli)
        return node, gpus

    def total_fragmentation(self) -> float:
        c = self.cluster
        return float(fragmentation(c.gpu, c.cpu, self.workload).sum())


class BestFit(FgdPacker):
    """Baseline: the GPU (and node) with the least free milli that still fits."""

    def place(self, cpu_milli: int, gpu_milli: int) -> tuple[int, tuple[int, ...]] | None:
        options = self.cluster.candidates(cpu_milli, gpu_milli)
        if not options:
            return None
        g = self.cluster.gpu
        left = [int(g[n].clip(min=0).sum()) if not gs else int(g[n, gs[0]]) for n, gs in options]
        node, gpus = options[int(np.argmin(left))]
        self.cluster.take(node, gpus, cpu_milli, gpu_milli)
        return node, gpus
