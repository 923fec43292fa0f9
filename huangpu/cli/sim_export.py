"""`huangpu sim export`: the store's job history as a huangpu-native trace (JSON Lines).

Each finished job becomes one trace job: submitted at its ``created_at`` (seconds from the
first job), with work equal to the seconds it spent RUNNING, in a one-class matrix where every
chip runs at 1 unit/s. So a replay reproduces what ran, and a what-if can swap the policy, the
pools or the matrix (put a measured one in the header to make the replay chip-aware).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import select

from huangpu.core.jobspec import JobSpec
from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.settings import Settings
from huangpu.sim.jobs import SimJob
from huangpu.sim.native import write_trace
from huangpu.sim.world import PoolSpec, World
from huangpu.store.db import connect
from huangpu.store.models import DeviceRow, JobEventRow, JobRow, NodeRow, PoolRow, SupplierRow

_ENDED = {"SUCCEEDED", "FAILED", "CANCELLED", "LOST", "PREEMPTED"}


def export_store(out: Path, url: str | None = None) -> int:
    db = connect(url or Settings().db_url, migrate=False)
    try:
        with db.read() as s:
            pools = s.execute(
                select(PoolRow, SupplierRow.name).join(
                    SupplierRow, SupplierRow.id == PoolRow.supplier_id
                )
            ).all()
            nodes = s.execute(select(NodeRow.id, NodeRow.pool_id)).all()
            devices = s.execute(
                select(DeviceRow.node_id, DeviceRow.chip, DeviceRow.memory_gib)
            ).all()
            jobs = list(s.execute(select(JobRow).order_by(JobRow.created_at, JobRow.id)).scalars())
            events = s.execute(
                select(JobEventRow.job_id, JobEventRow.to_state, JobEventRow.at).order_by(
                    JobEventRow.id
                )
            ).all()
    finally:
        db.dispose()
    per_node: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for node_id, chip, mem in devices:
        per_node[node_id].append((chip, mem))
    node_pool = dict(nodes)
    specs: list[PoolSpec] = []
    for pool, supplier in pools:
        sizes = [per_node[n] for n, p in node_pool.items() if p == pool.id and per_node[n]]
        if not sizes:
            continue
        chip = sizes[0][0][0]
        specs.append(
            PoolSpec(
                pool.name,
                chip,
                len(sizes),
                max(len(d) for d in sizes),
                supplier=supplier,
                memory_gib=sizes[0][0][1],
                region=pool.region,
            )
        )
    running: dict[str, float] = defaultdict(float)
    since: dict[str, float] = {}
    for job_id, state, at in events:
        if state == "RUNNING":
            since.setdefault(job_id, at)
        elif state in _ENDED and job_id in since:
            running[job_id] += at - since.pop(job_id)
    chips = sorted({p.chip for p in specs})
    matrix = ThroughputMatrix(
        ("default",), tuple(chips), np.ones((1, len(chips))), (("trace",) * len(chips),)
    )
    zero = jobs[0].created_at if jobs else 0.0
    trace_jobs = []
    for j in jobs:
        if running.get(j.id, 0.0) <= 0:
            continue
        res = JobSpec.model_validate(j.spec).resources
        # "910B", "ascend" or "any" → the catalog models it accepts, as control does.
        accepted = [m.id for m in res.accepted_models() if m.id in chips]
        trace_jobs.append(
            SimJob(
                key=j.id,
                org=j.org_id,
                submit=j.created_at - zero,
                work_class="default",
                # Every chip runs 1 unit/s per device, so it replays for as long as it ran.
                work=running[j.id] * res.accelerators * res.nodes,
                accel=res.accelerators,
                nodes=res.nodes,
                chips=tuple(accepted),
                priority=j.priority,
                kind=j.kind,
            )
        )
    if not specs:
        raise ValueError("the store has no pools with devices: nothing to export")
    return write_trace(out, "huangpu-history", World(tuple(specs)), matrix, trace_jobs)
