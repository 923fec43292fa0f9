"""Shared helpers for simulator tests: tiny worlds and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.world import PoolSpec, World

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "traces"


@pytest.fixture
def data_dir() -> Path:
    """The shared traces folder; absent locally → skip, absent under CI=1 → fail."""
    if not (DATA / "gavel").is_dir():
        if os.environ.get("CI") == "1":
            pytest.fail(f"shared data folder {DATA} is missing under CI")
        pytest.skip(f"shared data folder {DATA} is absent (needed for the real-file loaders)")
    return DATA


def one_chip_trace(jobs: list[SimJob], devices: int = 2, nodes: int = 1) -> Trace:
    world = World((PoolSpec("p", "a100", nodes, devices),))
    matrix = ThroughputMatrix(("default",), ("a100",), np.ones((1, 1)), (("test",),))
    return Trace("tiny", world, matrix, iter(jobs))


def job(key: str, submit: float, work: float, accel: int = 1, nodes: int = 1) -> SimJob:
    return SimJob(
        key=key, org=key, submit=submit, work_class="default", work=work, accel=accel, nodes=nodes
    )
