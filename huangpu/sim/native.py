"""The huangpu-native trace: JSON Lines the live platform exports and the simulator replays.

Line 1 is the header, every other line one job, in submit order:

    {"huangpu_trace": 1, "name": "...", "pools": [{"name", "chip", "nodes",
     "devices_per_node", "supplier", "memory_gib", "price_fen_per_hour"}, ...],
     "matrix": {"classes": [...], "chips": [...], "rates": [[...], ...]}}
    {"key": "job_01…", "org": "org_…", "submit": 12.5, "work_class": "default",
     "work": 3600.0, "accel": 1, "nodes": 1, "chips": [], "priority": 0, "kind": "train"}

``submit`` is seconds from the trace's zero; ``work`` is progress units, so a job replays at
the matrix rate of whatever chip it lands on. A malformed line raises ``TraceError`` naming the
file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.trace_errors import TraceError
from huangpu.sim.world import PoolSpec, World

VERSION = 1
_JOB_FIELDS = {
    "key",
    "org",
    "submit",
    "work_class",
    "work",
    "accel",
    "nodes",
    "chips",
    "priority",
    "kind",
}


def header(name: str, world: World, matrix: ThroughputMatrix) -> dict[str, Any]:
    return {
        "huangpu_trace": VERSION,
        "name": name,
        "pools": [
            {
                "name": p.name,
                "chip": p.chip,
                "nodes": p.nodes,
                "devices_per_node": p.devices_per_node,
                "supplier": p.supplier,
                "memory_gib": p.memory_gib,
                "price_fen_per_hour": p.price_fen_per_hour,
            }
            for p in world.pools
        ],
        "matrix": {
            "classes": list(matrix.classes),
            "chips": list(matrix.chips),
            "rates": np.asarray(matrix.rates).tolist(),
        },
    }


def job_line(job: SimJob) -> dict[str, Any]:
    return {
        "key": job.key,
        "org": job.org,
        "submit": job.submit,
        "work_class": job.work_class,
        "work": job.work,
        "accel": job.accel,
        "nodes": job.nodes,
        "chips": list(job.chips),
        "priority": job.priority,
        "kind": job.kind,
    }


def write_trace(
    path: Path, name: str, world: World, matrix: ThroughputMatrix, jobs: Iterable[SimJob]
) -> int:
    n = 0
    with path.open("w") as f:
        f.write(json.dumps(header(name, world, matrix), sort_keys=True) + "\n")
        for job in jobs:
            f.write(json.dumps(job_line(job), sort_keys=True) + "\n")
            n += 1
    return n


def _parse_header(path: Path, text: str) -> tuple[str, World, ThroughputMatrix]:
    try:
        h = json.loads(text)
        if h.get("huangpu_trace") != VERSION:
            raise ValueError(f'expected "huangpu_trace": {VERSION} in the header line')
        pools = tuple(PoolSpec(**p) for p in h["pools"])
        m = h["matrix"]
        classes, chips = tuple(m["classes"]), tuple(m["chips"])
        matrix = ThroughputMatrix(
            classes,
            chips,
            np.array(m["rates"], dtype=float),
            tuple(("trace",) * len(chips) for _ in classes),
        )
        return str(h.get("name", path.stem)), World(pools), matrix
    except (ValueError, KeyError, TypeError) as e:
        raise TraceError(path, 1, f"bad header: {e}") from e


def _jobs(path: Path) -> Iterator[SimJob]:
    last = -np.inf
    with path.open() as f:
        next(f)
        for line_no, text in enumerate(f, start=2):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
                extra = set(row) - _JOB_FIELDS
                if extra:
                    raise ValueError(f"unknown fields {sorted(extra)}")
                job = SimJob(
                    key=str(row["key"]),
                    org=str(row["org"]),
                    submit=float(row["submit"]),
                    work_class=str(row["work_class"]),
                    work=float(row["work"]),
                    accel=int(row.get("accel", 1)),
                    nodes=int(row.get("nodes", 1)),
                    chips=tuple(row.get("chips", ())),
                    priority=int(row.get("priority", 0)),
                    kind=str(row.get("kind", "train")),
                )
            except (ValueError, KeyError, TypeError) as e:
                raise TraceError(path, line_no, f"bad job line: {e}") from e
            if job.work <= 0 or job.accel < 1 or job.nodes < 1:
                raise TraceError(path, line_no, "work must be > 0, accel and nodes ≥ 1")
            if job.submit < last:
                raise TraceError(path, line_no, "jobs must be in submit order")
            last = job.submit
            yield job


def read_trace(path: Path) -> Trace:
    with path.open() as f:
        first = f.readline()
    if not first.strip():
        raise TraceError(path, 1, "empty file: expected a header line")
    name, world, matrix = _parse_header(path, first)
    return Trace(name, world, matrix, _jobs(path))
