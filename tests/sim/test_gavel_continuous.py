"""Gavel's continuous-single jobs: Gavel's own arrivals and jobs for a seed, deterministically."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from huangpu.sim import gavel
from huangpu.sim.jobs import SimJob
from huangpu.sim.presets import TraceSpec, build


def _jobs(data_dir: Path, spec: str, n: int) -> list[SimJob]:
    trace, round_s = build(TraceSpec.parse(spec), data_dir)
    assert round_s == 360.0
    return list(itertools.islice(trace.jobs, n))


def test_same_seed_same_arrivals(data_dir: Path) -> None:
    a = _jobs(data_dir, "gavel-continuous:rate=5.6,seed=0", 500)
    assert a == _jobs(data_dir, "gavel-continuous:rate=5.6,seed=0", 500)
    assert a != _jobs(data_dir, "gavel-continuous:rate=5.6,seed=1", 500)
    # The rate only scales the gaps: same jobs, arrivals 5.6 / 6.0 as far apart.
    b = _jobs(data_dir, "gavel-continuous:rate=6.0,seed=0", 500)
    assert [(j.work_class, j.work) for j in a] == [(j.work_class, j.work) for j in b]
    assert b[-1].submit == pytest.approx(a[-1].submit * 5.6 / 6.0, rel=1e-12)


def test_first_jobs_are_pinned(data_dir: Path) -> None:
    # Gavel's seed 0 at 5.6 jobs/h (random.Random(2) for jobs, random.Random(3) for gaps).
    jobs = _jobs(data_dir, "gavel-continuous:rate=5.6,seed=0", 3)
    assert [j.work_class for j in jobs] == [
        "ResNet-18 (batch size 64)",
        "Transformer (batch size 16)",
        "Recommendation (batch size 2048)",
    ]
    assert [j.submit for j in jobs] == pytest.approx([0.0, 174.7043377930725, 679.8391625207828])
    assert all(j.accel == 1 and j.nodes == 1 for j in jobs)
    # Durations (s) on a V100, as Gavel's _generate_duration drew them; work = duration × rate.
    m = gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")
    draws = list(gavel.gavel_draws(m, 0, 3, multi_gpu=False, jobs_per_hour=5.6))
    assert [d[3] for d in draws] == pytest.approx(
        [68344.35010595087, 31016.60914593223, 2146.6088374387864], rel=1e-12
    )


def test_job_count_of_gavels_run(data_dir: Path) -> None:
    # Gavel's heterogeneity-aware run (seed 0, 5.6 jobs/h) generated 6,671 jobs before jobs
    # 4000-4999 were done: job 6670 arrives at 1175.85 h, job 4999 at 883.47 h.
    m = gavel.load_matrix(data_dir / "gavel" / "simulation_throughputs.json")
    draws = list(gavel.gavel_draws(m, 0, 6671, multi_gpu=False, jobs_per_hour=5.6))
    assert draws[4999][0] / 3600 == pytest.approx(883.47, abs=0.01)
    assert draws[6670][0] / 3600 == pytest.approx(1175.85, abs=0.01)


def test_numpy_generator_is_kept(data_dir: Path) -> None:
    old = _jobs(data_dir, "gavel-continuous:rate=5.6,seed=0,generator=numpy", 3)
    assert old != _jobs(data_dir, "gavel-continuous:rate=5.6,seed=0", 3)
    csv = _jobs(data_dir, "gavel-continuous:seed=0,generator=numpy,durations=philly-csv", 3)
    assert len(csv) == 3
    with pytest.raises(ValueError, match="generator=numpy"):
        build(TraceSpec.parse("gavel-continuous:durations=philly-csv"), data_dir)
    with pytest.raises(ValueError, match="unknown generator"):
        build(TraceSpec.parse("gavel-continuous:generator=nope"), data_dir)
