"""``min-makespan`` driven by the engine in rounds, on traces small enough to do by hand."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.engine import SimConfig, simulate
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.metrics import summarise
from huangpu.sim.world import PoolSpec, World


def _two_chip_trace(jobs: list[SimJob]) -> Trace:
    world = World((PoolSpec("fast", "v100", 1, 1), PoolSpec("slow", "k80", 1, 1)))
    # Class "x" is 4× faster on the V100; class "y" is as fast on either.
    matrix = ThroughputMatrix(
        ("x", "y"), ("v100", "k80"), np.array([[4.0, 1.0], [1.0, 1.0]]), (("t", "t"), ("t", "t"))
    )
    return Trace("tiny-hetero", world, matrix, iter(jobs))


def test_policy_in_rounds_by_hand() -> None:
    # X: 400 units (100 s on the V100, 400 s on the K80); Y: 100 units (100 s anywhere).
    # The plan puts X on the V100 and Y on the K80 from the first round: both end at 100 s,
    # the fluid bound (X anywhere else, or Y on the V100 first, would end later).
    jobs = [
        SimJob(key="x", org="x", submit=0.0, work_class="x", work=400.0),
        SimJob(key="y", org="y", submit=0.0, work_class="y", work=100.0),
    ]
    r = simulate(_two_chip_trace(jobs), SimConfig("min-makespan", round_s=10.0))
    np.testing.assert_allclose(r.finish, [100.0, 100.0])
    assert summarise(r)["makespan_h"] == pytest.approx(100 / 3600)


def test_policy_time_shares_when_the_plan_is_fractional() -> None:
    # Two X jobs of 200 units on one V100 and one K80: together 5 units/s for 400 units, so
    # the fluid bound is 80 s, each job half its time on each chip (4·40 + 1·40 = 200).
    # Rounds of 10 s realise it within a round of the bound, and neither job is left behind.
    jobs = [
        SimJob(key="a", org="a", submit=0.0, work_class="x", work=200.0),
        SimJob(key="b", org="b", submit=0.0, work_class="x", work=200.0),
    ]
    r = simulate(_two_chip_trace(jobs), SimConfig("min-makespan", round_s=10.0))
    makespan = float(np.max(r.finish))
    assert 80.0 <= makespan <= 90.0 + 1e-9
    assert float(np.min(r.finish)) >= 70.0  # neither job was left to the end
