"""Alibaba GPU cluster trace v2023 (openb), as used by FGD (Weng et al., "Beware of
Fragmentation", USENIX ATC '23; github.com/alibaba/clusterdata, cite the paper).

- ``read_nodes``: ``sn,cpu_milli,memory_mib,gpu,model`` (1,523 nodes, 6,212 GPUs);
- ``read_pods``: ``name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,
  creation_time,deletion_time,scheduled_time`` (8,152 pods in the default list);
- ``inflate``: seeded draws (with replacement) until the GPU requested reaches ``percent``
  of the cluster's GPU capacity;
- ``inflate_fgd``: FGD's own workload tuning (its artifact's ``-tune`` with
  ``--shuffle-pod``): every pod of the trace once, plus seeded copies of random trace pods
  while the total GPU request stays within ``percent`` of capacity (or random pods removed
  when the trace asks for more), the whole list shuffled. Nothing departs; the metric is GPUs
  allocated vs requested.

Files are read at run time from the data folder; nothing is copied into the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from huangpu.sim.trace_errors import TraceError, csv_rows

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "creation_time",
    "deletion_time",
)


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str  # "" for CPU-only nodes


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int  # per GPU; < 1000 only when num_gpu == 1 (GPU sharing)
    gpu_spec: tuple[str, ...]  # accepted GPU models; empty = any
    creation: float
    deletion: float

    @property
    def gpu_request_milli(self) -> int:
        return self.num_gpu * self.gpu_milli


def _int(path: Path, line: int, row: dict[str, str], col: str) -> int:
    try:
        return int(float(row[col])) if row[col] else 0
    except ValueError as e:
        raise TraceError(path, line, f"column {col}: {row[col]!r} is not a number") from e


def read_nodes(path: Path) -> Iterator[Node]:
    for line, row in csv_rows(path, NODE_COLUMNS):
        gpus = _int(path, line, row, "gpu")
        if gpus < 0:
            raise TraceError(path, line, "gpu must be ≥ 0")
        yield Node(
            row["sn"],
            _int(path, line, row, "cpu_milli"),
            _int(path, line, row, "memory_mib"),
            gpus,
            row["model"] if gpus else "",
        )


def read_pods(path: Path) -> Iterator[Pod]:
    for line, row in csv_rows(path, POD_COLUMNS):
        num_gpu, milli = _int(path, line, row, "num_gpu"), _int(path, line, row, "gpu_milli")
        if num_gpu < 0 or not 0 <= milli <= 1000:
            raise TraceError(path, line, "num_gpu must be ≥ 0 and gpu_milli in 0..1000")
        if num_gpu > 1 and milli != 1000:
            raise TraceError(path, line, "a multi-GPU pod must take whole GPUs (gpu_milli 1000)")
        spec = tuple(s for s in row["gpu_spec"].split("|") if s) if row["gpu_spec"] else ()
        yield Pod(
            row["name"],
            _int(path, line, row, "cpu_milli"),
            _int(path, line, row, "memory_mib"),
            num_gpu,
            milli if num_gpu else 0,
            spec,
            float(_int(path, line, row, "creation_time")),
            float(_int(path, line, row, "deletion_time")),
        )


def inflate(pods: list[Pod], capacity_gpus: int, percent: float, seed: int) -> Iterator[Pod]:
    """FGD's inflation: seeded draws (with replacement) until the GPU requested reaches
    ``percent`` of capacity. CPU-only pods are drawn too (they consume CPU), as in FGD."""
    rng = np.random.default_rng(seed)
    target = capacity_gpus * 1000 * percent / 100
    requested = 0
    while requested < target:
        pod = pods[int(rng.integers(len(pods)))]
        requested += pod.gpu_request_milli
        yield pod


def inflate_fgd(pods: list[Pod], capacity_gpus: int, percent: float, seed: int) -> list[Pod]:
    """FGD's tuning: the trace once plus seeded copies up to ``percent`` of GPU capacity,
    shuffled (seeded). Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    target = capacity_gpus * 1000 * percent / 100
    out = list(pods)
    requested = sum(p.gpu_request_milli for p in out)
    while requested > target and out:
        requested -= out.pop(int(rng.integers(len(out)))).gpu_request_milli
    while pods:
        pod = pods[int(rng.integers(len(pods)))]
        if requested + pod.gpu_request_milli > target:
            break
        requested += pod.gpu_request_milli
        out.append(pod)
    order = rng.permutation(len(out))
    return [out[i] for i in order]
