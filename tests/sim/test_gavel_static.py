"""Gavel's static (makespan) jobs: drawn as Gavel's simulator draws them, deterministically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from huangpu.scheduling.makespan import min_makespan_allocation
from huangpu.sim import gavel
from huangpu.sim.presets import TraceSpec, build


def _matrix(data_dir: Path) -> gavel.ThroughputMatrix:
    return gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")


def test_same_seed_same_jobs(data_dir: Path) -> None:
    m = _matrix(data_dir)
    a = list(gavel.gavel_jobs(m, 1, 200))
    b = list(gavel.gavel_jobs(m, 1, 200))
    assert a == b
    assert a != list(gavel.gavel_jobs(m, 2, 200))
    # A longer draw starts with the shorter one: jobs do not depend on how many are drawn.
    assert list(gavel.gavel_jobs(m, 1, 300))[:200] == a


def test_first_jobs_are_pinned(data_dir: Path) -> None:
    # Python's random.Random sequence is stable across versions; these pin the port.
    t, model, scale, duration = next(gavel.gavel_draws(_matrix(data_dir), 0, 1))
    assert (t, model, scale) == (0.0, "ResNet-18 (batch size 64)", 8)
    assert duration == pytest.approx(68344.35010595087, rel=1e-12)


def test_mix_and_gangs(data_dir: Path) -> None:
    m = _matrix(data_dir)
    jobs = list(gavel.gavel_jobs(m, 1, 700))
    sizes = np.array([j.accel * j.nodes for j in jobs])
    assert set(sizes.tolist()) == {1, 2, 4, 8}
    assert all(j.submit == 0.0 and j.accel == 1 for j in jobs)  # 1-GPU servers, as Gavel's
    # Multi-GPU jobs are only ever models Gavel can distribute.
    assert all(" x" in j.work_class for j in jobs if j.nodes > 1)
    # Roughly Gavel's 70 / 10 / 15 / 5 split.
    assert 0.6 < float((sizes == 1).mean()) < 0.8


def test_fluid_bound_of_the_700_job_draws(data_dir: Path) -> None:
    # The LP bound of each seed's 700 jobs (hours), as docs/results.md reports them.
    m = _matrix(data_dir)
    bounds = []
    for seed in (0, 1, 2):
        jobs = list(gavel.gavel_jobs(m, seed, 700))
        rates = np.array([m.rates[m.classes.index(j.work_class)] * j.nodes for j in jobs])
        work = np.array([j.work for j in jobs])
        sizes = np.array([float(j.nodes) for j in jobs])
        t, _ = min_makespan_allocation(work, rates, sizes, np.full(3, 36.0))
        bounds.append(t / 3600)
    np.testing.assert_allclose(bounds, [236.6, 226.4, 262.7], atol=0.05)


def test_preset(data_dir: Path) -> None:
    trace, round_s = build(TraceSpec.parse("gavel-static:jobs=5,seed=1"), data_dir)
    assert round_s == 360.0
    assert trace.world.capacity_by_chip() == {"v100": 36, "p100": 36, "k80": 36}
    assert len(list(trace.jobs)) == 5
    old, _ = build(TraceSpec.parse("gavel-static:jobs=5,generator=numpy,gpus_per_server=4"),
                   data_dir)  # fmt: skip
    assert len(list(old.jobs)) == 5
