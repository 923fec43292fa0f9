"""Fractional-GPU packing with FGD, fragmentation gradient descent (Weng et al., ATC '23).

A task asks for ``gpu_milli`` of one GPU (0 < milli < 1000, shared) or whole GPUs (a multiple
of 1000), plus CPU, memory and optionally a set of accepted GPU models. Given the *target
workload* (task types and how common each is), a node's fragmentation is the GPU capacity that
the typical task could not use:

    F(n) = Σ_m p_m · F_m(n),  F_m(n) = free milli on GPUs with < m's milli   if m fits on n
                                      = all free GPU milli                    otherwise
"Fits" means enough CPU, enough GPUs with ≥ m's milli free and an accepted GPU model; a
CPU-only type counts all free GPU milli (it cannot use GPUs), as in FGD's artifact. FGD places
each task where it *increases* the cluster's fragmentation least.

The packers are incremental: a node's F is cached and so is, per task shape, every node's
best ΔF and GPU choice; placing a task changes one node, so only that node is recomputed for
the next task of each shape. Recomputations are vectorised over nodes × GPU choices × task
types. ``BestFit`` (tightest GPU) is a baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from huangpu.scheduling.snapshot import FloatArray, IntArray

FULL = 1000
NO_LIMIT = np.iinfo(np.int64).max // 4

BoolArray = np.ndarray
Placement = tuple[int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class TaskType:
    cpu_milli: int
    gpu_milli: int  # < 1000: share of one GPU; else whole GPUs × 1000; 0: CPU only
    weight: float  # how common, e.g. its share of the trace's tasks
    gpu_spec: tuple[str, ...] = ()  # accepted GPU models; empty: any


class _Cluster:
    """Free resources: GPU milli per node × GPU slot (−1: no such GPU), CPU, memory, model."""

    def __init__(
        self,
        gpu_free: IntArray,
        cpu_free: IntArray,
        mem_free: IntArray | None = None,
        models: Sequence[str] | None = None,
    ) -> None:
        self.gpu = np.array(gpu_free, dtype=np.int64, copy=True)
        self.cpu = np.array(cpu_free, dtype=np.int64, copy=True)
        n = self.gpu.shape[0] if self.gpu.ndim == 2 else -1
        if self.gpu.ndim != 2 or self.cpu.shape != (n,):
            raise ValueError("gpu_free must be nodes × GPUs and cpu_free one entry per node")
        if np.any(self.gpu > FULL) or np.any(self.cpu < 0):
            raise ValueError("a GPU has at most 1000 milli free and CPU must be ≥ 0")
        self.mem = (
            np.full(n, NO_LIMIT, dtype=np.int64)
            if mem_free is None
            else np.array(mem_free, dtype=np.int64, copy=True)
        )
        self.models = tuple(models) if models is not None else ("",) * n
        if self.mem.shape != (n,) or len(self.models) != n:
            raise ValueError("mem_free and models need one entry per node")
        self._access: dict[tuple[str, ...], BoolArray] = {}

    def access(self, spec: tuple[str, ...]) -> BoolArray:
        """Nodes whose GPU model the spec accepts (all nodes for an empty spec)."""
        if spec not in self._access:
            ok = [not spec or m in spec for m in self.models]
            self._access[spec] = np.array(ok, dtype=bool)
        return self._access[spec]

    def candidates(
        self, cpu: int, gpu: int, mem: int = 0, spec: tuple[str, ...] = ()
    ) -> list[Placement]:
        ok = (self.cpu >= cpu) & (self.mem >= mem)
        if gpu == 0:
            return [(int(n), ()) for n in np.flatnonzero(ok)]
        ok &= self.access(spec)
        if gpu < FULL:
            nodes, gpus = np.nonzero((self.gpu >= gpu) & ok[:, None])
            return [(int(n), (int(g),)) for n, g in zip(nodes, gpus, strict=True)]
        k = gpu // FULL
        out = []
        for n in np.flatnonzero(ok & ((self.gpu == FULL).sum(axis=1) >= k)).tolist():
            out.append((n, tuple(int(g) for g in np.flatnonzero(self.gpu[n] == FULL)[:k])))
        return out

    def take(self, node: int, gpus: tuple[int, ...], cpu: int, gpu: int, mem: int = 0) -> None:
        self.cpu[node] -= cpu
        self.mem[node] -= mem
        for g in gpus:
            self.gpu[node, g] -= gpu if gpu < FULL else FULL


class _Types:
    """The target workload as arrays. GPU types are grouped by their milli per GPU: the
    expensive per-GPU sums are done once per distinct milli, not once per type."""

    def __init__(self, workload: Sequence[TaskType], cluster: _Cluster) -> None:
        w = np.array([t.weight for t in workload], dtype=np.float64)
        p = w / w.sum() if w.sum() > 0 else w
        gpu_types = [i for i, t in enumerate(workload) if t.gpu_milli > 0]
        self.cpu_only_p = float(sum(p[i] for i, t in enumerate(workload) if t.gpu_milli == 0))
        milli = [min(workload[i].gpu_milli, FULL) for i in gpu_types]
        self.milli = np.array(sorted(set(milli)), dtype=np.int64)  # distinct milli per GPU
        self.group = np.searchsorted(self.milli, np.array(milli, dtype=np.int64))
        self.k = np.array([max(1, workload[i].gpu_milli // FULL) for i in gpu_types])
        self.cpu = np.array([workload[i].cpu_milli for i in gpu_types], dtype=np.int64)
        self.p_gpu = p[gpu_types] if gpu_types else np.zeros(0)
        n = len(cluster.models)
        specs = [workload[i].gpu_spec for i in gpu_types]
        self.any_spec = any(specs)
        self.access = (  # node × GPU type
            np.stack([cluster.access(s) for s in specs], axis=1)
            if specs
            else np.zeros((n, 0), dtype=bool)
        )


def _frag_rows(gpu: IntArray, cpu: IntArray, access: BoolArray, t: _Types) -> FloatArray:
    """F per row of ``gpu`` (rows × GPUs) with its CPU and the types' access (rows × types).

    F = Σ_t p_t·total − Σ_t p_t·[t fits]·(total − part_t), where part_t is the free milli on
    GPUs with less than t's milli free (``total`` for CPU-only types, which never fit)."""
    free = np.maximum(gpu, 0)
    total = free.sum(axis=1).astype(np.float64)
    out: FloatArray = (t.cpu_only_p + float(t.p_gpu.sum())) * total
    if len(t.p_gpu) == 0:
        return out
    g = gpu[:, None, :]  # rows × 1 × GPUs
    m = t.milli[None, :, None]
    count = (g >= m).sum(axis=2)  # rows × distinct milli: GPUs that can take it
    usable = np.where(free[:, None, :] >= m, free[:, None, :], 0).sum(axis=2)  # total − part
    fits = (count[:, t.group] >= t.k[None, :]) & (cpu[:, None] >= t.cpu[None, :])
    if t.any_spec:
        fits &= access
    lost: FloatArray = (fits * usable[:, t.group]) @ t.p_gpu
    return out - lost


def fragmentation(
    gpu: IntArray,
    cpu: IntArray,
    workload: Sequence[TaskType],
    models: Sequence[str] | None = None,
) -> FloatArray:
    """F(n) per node (GPU milli) for the target workload (weights normalised to 1)."""
    c = _Cluster(np.minimum(gpu, FULL), np.maximum(cpu, 0), models=models)
    t = _Types(workload, c)
    return _frag_rows(np.asarray(gpu, dtype=np.int64), np.asarray(cpu), t.access, t)


class FgdPacker:
    """Place tasks one by one where fragmentation grows least; ties: lowest node, then GPU.

    ``place`` returns (node, GPU slots) or None when no node fits. ``delta_scores`` exposes the
    cached ΔF per node for a task shape, so variants only override ``_choose``.
    """

    def __init__(
        self,
        gpu_free: IntArray,
        cpu_free: IntArray,
        workload: Sequence[TaskType],
        mem_free: IntArray | None = None,
        models: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.cluster = _Cluster(gpu_free, cpu_free, mem_free, models)
        self.rng = np.random.default_rng(seed)
        n, g = self.cluster.gpu.shape
        self._version = np.zeros(n, dtype=np.int64)
        self._eye = np.eye(g, dtype=np.int64)
        self.set_workload(workload)

    # -- the fragmentation cache -------------------------------------------------------
    def set_workload(self, workload: Sequence[TaskType]) -> None:
        """Change the target workload; every cached value is recomputed lazily."""
        self.workload = tuple(workload)
        self._types = _Types(self.workload, self.cluster)
        c = self.cluster
        self._frag = _frag_rows(c.gpu, c.cpu, self._types.access, self._types)
        self._shapes: dict[
            tuple[int, int, tuple[str, ...]], tuple[FloatArray, IntArray, IntArray]
        ] = {}

    def _refresh(self, nodes: IntArray) -> None:
        c = self.cluster
        self._frag[nodes] = _frag_rows(
            c.gpu[nodes], c.cpu[nodes], self._types.access[nodes], self._types
        )

    def _deltas(
        self, nodes: IntArray, cpu: int, gpu: int, spec: tuple[str, ...]
    ) -> tuple[FloatArray, IntArray]:
        """Best ΔF per node (inf: cannot host) and its GPU slot (−1: none or whole GPUs)."""
        c, t = self.cluster, self._types
        g, cp = c.gpu[nodes], c.cpu[nodes]
        before = self._frag[nodes]
        ok = cp >= cpu
        acc = t.access[nodes]
        slot = np.full(len(nodes), -1, dtype=np.int64)
        if gpu == 0:
            delta = _frag_rows(g, cp - cpu, acc, t) - before
            return np.where(ok, delta, np.inf), slot
        ok &= c.access(spec)[nodes]
        if gpu < FULL:
            b, w = g.shape
            rows, cols = np.nonzero((g >= gpu) & ok[:, None])  # every (node, GPU) that fits
            after = g[rows] - gpu * self._eye[cols]
            f = _frag_rows(after, cp[rows] - cpu, acc[rows], t) - before[rows]
            d = np.full((b, w), np.inf)
            d[rows, cols] = f
            slot = np.argmin(d, axis=1)  # first minimum: lowest GPU
            return d[np.arange(b), slot], slot
        k = gpu // FULL
        full = g == FULL
        ok &= full.sum(axis=1) >= k
        after = g - FULL * (full & (np.cumsum(full, axis=1) <= k))
        delta = _frag_rows(after, cp - cpu, acc, t) - before
        return np.where(ok, delta, np.inf), slot

    def delta_scores(
        self, cpu_milli: int, gpu_milli: int, gpu_spec: tuple[str, ...] = ()
    ) -> tuple[FloatArray, IntArray]:
        """ΔF per node for this task shape (inf where it cannot go), kept up to date."""
        key = (cpu_milli, gpu_milli, gpu_spec)
        n = len(self._version)
        if key not in self._shapes:
            self._shapes[key] = (
                np.zeros(n),
                np.zeros(n, dtype=np.int64),
                np.full(n, -1, dtype=np.int64),
            )
        delta, slot, seen = self._shapes[key]
        stale = np.flatnonzero(seen != self._version)
        if len(stale):
            delta[stale], slot[stale] = self._deltas(stale, cpu_milli, gpu_milli, gpu_spec)
            seen[stale] = self._version[stale]
        return delta, slot

    # -- placing ---------------------------------------------------------------------
    def place(
        self, cpu_milli: int, gpu_milli: int, memory_mib: int = 0, gpu_spec: tuple[str, ...] = ()
    ) -> Placement | None:
        delta, slot = self.delta_scores(cpu_milli, gpu_milli, gpu_spec)
        feasible = np.isfinite(delta) & (self.cluster.mem >= memory_mib)
        if not feasible.any():
            return None
        node = self._choose(delta, feasible, cpu_milli, gpu_milli)
        return self._take(node, int(slot[node]), cpu_milli, gpu_milli, memory_mib)

    def _choose(self, delta: FloatArray, feasible: BoolArray, cpu: int, gpu: int) -> int:
        return int(np.argmin(np.where(feasible, delta, np.inf)))  # first minimum: lowest node

    def _take(self, node: int, slot: int, cpu: int, gpu: int, mem: int) -> Placement:
        c = self.cluster
        if gpu == 0:
            gpus: tuple[int, ...] = ()
        elif gpu < FULL:
            gpus = (slot,)
        else:
            gpus = tuple(int(x) for x in np.flatnonzero(c.gpu[node] == FULL)[: gpu // FULL])
        c.take(node, gpus, cpu, gpu, mem)
        self._version[node] += 1
        self._refresh(np.array([node]))
        return node, gpus

    def total_fragmentation(self) -> float:
        return float(self._frag.sum())


class BestFit(FgdPacker):
    """Baseline: the GPU (and node) with the least free milli that still fits."""

    def place(
        self, cpu_milli: int, gpu_milli: int, memory_mib: int = 0, gpu_spec: tuple[str, ...] = ()
    ) -> Placement | None:
        options = self.cluster.candidates(cpu_milli, gpu_milli, memory_mib, gpu_spec)
        if not options:
            return None
        g = self.cluster.gpu
        left = [int(g[n].clip(min=0).sum()) if not gs else int(g[n, gs[0]]) for n, gs in options]
        node, gpus = options[int(np.argmin(left))]
        self.cluster.take(node, gpus, cpu_milli, gpu_milli, memory_mib)
        self._version[node] += 1
        self._refresh(np.array([node]))
        return node, gpus


def k8s_score(delta: FloatArray) -> FloatArray:
    """FGD's plug-in score: ⌊100 · sigmoid(−ΔF / 1000)⌋, an integer in 0..100."""
    with np.errstate(over="ignore"):
        score: FloatArray = np.floor(100.0 / (1.0 + np.exp(np.clip(delta, -1e6, 1e6) / FULL)))
    return score


class FgdK8s(FgdPacker):
    """FGD as its Kubernetes artifact runs it: ΔF is squashed to an integer score (see
    ``k8s_score``) and the scheduler picks uniformly at random among the nodes with the top
    score (seeded). Nodes whose ΔF differ by less than ~40 milli GPU then tie."""

    def _choose(self, delta: FloatArray, feasible: BoolArray, cpu: int, gpu: int) -> int:
        score = np.where(feasible, k8s_score(delta), -1.0)
        best = np.flatnonzero(score == score.max())
        return int(best[self.rng.integers(len(best))]) if len(best) > 1 else int(best[0])
