"""Microsoft ITP traces as published with ElasticFlow (Gu et al., ASPLOS '23;
github.com/microsoft/elasticflow-traces, MIT): 69,351 jobs from 10 clusters.

- raw form: ``job_id,submission_time,duration,num_gpu``;
- ElasticFlow form: adds ``num_iteration,model_name,deadline,batch_size``.

The traces name no chip, so a job's work is its measured duration on the cluster's GPUs (one
workload class per model, every chip at rate 1 unless a matrix is given), and a world is built
from ``gpus`` (default 128, ElasticFlow's simulated cluster size) in nodes of 8. Jobs wider
than a node become gangs of whole nodes (rounded up: a 12-GPU job holds two nodes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.trace_errors import TraceError, csv_rows
from huangpu.sim.world import uniform_world

RAW = ("job_id", "submission_time", "duration", "num_gpu")
ELASTICFLOW = (*RAW, "num_iteration", "model_name", "deadline", "batch_size")


def read_jobs(path: Path, node_size: int = 8) -> Iterator[SimJob]:
    elastic = path.read_text(errors="replace").split("\n", 1)[0].count(",") > 3
    last = -np.inf
    for line, row in csv_rows(path, ELASTICFLOW if elastic else RAW):
        try:
            submit, duration = float(row["submission_time"]), float(row["duration"])
            gpus = int(row["num_gpu"])
        except ValueError as e:
            raise TraceError(path, line, str(e)) from e
        if duration <= 0 or gpus < 1 or submit < 0:
            raise TraceError(path, line, "duration and num_gpu must be > 0, submission ≥ 0")
        if submit < last:
            raise TraceError(path, line, "rows must be in submission order")
        last = submit
        nodes = max(1, -(-gpus // node_size))
        accel = gpus if nodes == 1 else node_size
        yield SimJob(
            key=row["job_id"],
            org=row["job_id"],
            submit=submit,
            work_class="default",
            work=duration * gpus / (accel * nodes),
            accel=accel,
            nodes=nodes,
        )


def trace(path: Path, gpus: int, chip: str = "v100") -> Trace:
    world = uniform_world({chip: gpus}, devices_per_node=8)
    matrix = ThroughputMatrix(("default",), (chip,), np.ones((1, 1)), (("trace",),))
    return Trace(f"itp({path.name})", world, matrix, read_jobs(path))
