"""Tiny traces whose JCT, makespan and allocation are computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling import Placement, Snapshot, policy_names, register
from huangpu.sim.engine import SimConfig, simulate
from huangpu.sim.metrics import summarise
from tests.sim.conftest import job, one_chip_trace


def test_event_driven_first_fit_by_hand() -> None:
    # Two devices. A (100 s) and B (50 s) start at 0; C arrives at 10 and waits for B's
    # device: it runs 50 → 80.
    trace = one_chip_trace([job("a", 0, 100), job("b", 0, 50), job("c", 10, 30)])
    r = simulate(trace, SimConfig("first-fit"))
    np.testing.assert_allclose(r.finish - r.submit, [100, 50, 70])
    np.testing.assert_allclose(r.first_start - r.submit, [0, 0, 40])
    m = summarise(r)
    assert m["jct_avg_h"] == pytest.approx(220 / 3 / 3600)
    assert m["makespan_h"] == pytest.approx(100 / 3600)
    # 180 device-seconds allocated of 2 devices × 100 s.
    assert m["utilisation"]["a100"] == pytest.approx(0.9)


def test_rounds_with_las_and_overhead_by_hand() -> None:
    # One device, rounds of 50 s, 10 s restore overhead. LAS alternates:
    # 0-50 A | 50-100 B | 100-150 A (restores to 110; 40 done) | 150-200 B (likewise)
    # | 200-250 A (restores to 210, done at 220) | B waits for the round at 250, done 270.
    trace = one_chip_trace([job("a", 0, 100), job("b", 0, 100)], devices=1)
    r = simulate(trace, SimConfig("las", round_s=50, overhead_s=10))
    np.testing.assert_allclose(r.finish, [220, 270])
    np.testing.assert_allclose(r.preemptions, [2, 2])
    assert summarise(r)["makespan_h"] == pytest.approx(270 / 3600)


def test_gang_waits_for_a_whole_domain() -> None:
    # Two 2-device nodes in one domain; a 2×2 gang waits until the single job frees node 0,
    # then does its 60 units at 4 devices × 1 unit/s: 15 s.
    trace = one_chip_trace([job("s", 0, 30), job("g", 1, 60, accel=2, nodes=2)], 2, 2)
    r = simulate(trace, SimConfig("first-fit"))
    np.testing.assert_allclose(r.first_start, [0, 30])
    np.testing.assert_allclose(r.finish, [30, 45])


def test_allocation_rate_samples() -> None:
    trace = one_chip_trace([job("a", 0, 7200), job("b", 0, 3600)])
    r = simulate(trace, SimConfig("first-fit", sample_s=3600))
    # Samples at 0 h (2 busy), 1 h (b just finished: 1 busy), 2 h (end: 0 busy).
    np.testing.assert_allclose(r.sample_busy[:, 0], [2, 1, 0])


class _SameDevicePolicy:
    """A broken policy: every job gets device 0 of the first node."""

    name = "test-same-device"

    def order(self, snapshot: Snapshot) -> np.ndarray:
        return np.arange(snapshot.n_jobs)

    def choose(self, snapshot: Snapshot, job: int, free: np.ndarray, feasible: np.ndarray):
        node = snapshot.node_keys[0]
        return Placement(snapshot.job_keys[job], 0, (node,), ((node, 0),))


@pytest.mark.parametrize("round_s", [0.0, 50.0])
def test_a_device_given_twice_stops_the_run(round_s: float) -> None:
    # In one cycle (two jobs at once) and across cycles (a later arrival while the first runs).
    if "test-same-device" not in policy_names():
        register("test-same-device")(_SameDevicePolicy)
    trace = one_chip_trace([job("a", 0, 100), job("b", 0, 100), job("c", 10, 100)])
    with pytest.raises(RuntimeError, match=r"device p/n0000:0 given twice"):
        simulate(trace, SimConfig("test-same-device", round_s=round_s))
