"""Fair-share order, finish-time fairness and usage decay, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling import SnapshotBuilder, get_policy
from huangpu.scheduling.fairshare import decay, fair_share_factor
from huangpu.scheduling.tables import Quotas


def test_decay_halves_each_half_life() -> None:
    assert decay(np.array([800.0]), 7200.0, 3600.0)[0] == pytest.approx(200.0)
    assert decay(np.array([800.0]), 3600.0, 3600.0, np.array([10.0]))[0] == pytest.approx(410.0)


def test_fair_share_factor_is_slurms_formula() -> None:
    f = fair_share_factor(np.array([0.0, 50.0, 150.0]), np.array([1.0, 1.0, 2.0]))
    # shares 1/4, 1/4, 1/2; usage shares 0, 1/4, 3/4: F = 2^0, 2^-1, 2^-1.5
    assert f == pytest.approx([1.0, 0.5, 2**-1.5])


def test_fair_share_orders_light_users_first_within_a_priority() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=100.0)
    b.set_quotas(Quotas(decayed_usage=np.array([1000.0, 0.0])))
    b.add_job("heavy", 1, 1, 0, [0], 0, 0, 0.0)
    b.add_job("light", 1, 1, 0, [0], 1, 0, 50.0)
    b.add_job("urgent-heavy", 1, 1, 0, [0], 0, 1, 60.0)
    s = b.build()
    order = [s.job_keys[i] for i in get_policy("fair-share").order(s)]
    assert order == ["urgent-heavy", "light", "heavy"]
    assert [s.job_keys[i] for i in get_policy("cost-aware").order(s)] == [
        "urgent-heavy",
        "heavy",
        "light",
    ]


def test_finish_time_fairness_puts_short_jobs_that_waited_first() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=3600.0)
    b.add_job("long", 1, 1, 0, [0], 0, 0, 0.0, runtime_s=36_000.0)  # rho = 1.1
    b.add_job("short", 1, 1, 0, [0], 0, 0, 1800.0, runtime_s=600.0)  # rho = 4
    b.add_job("unknown", 1, 1, 0, [0], 0, 0, 0.0)  # 1 h assumed: rho = 2
    s = b.build()
    order = [s.job_keys[i] for i in get_policy("finish-time-fairness").order(s)]
    assert order == ["short", "unknown", "long"]


def test_starvation_guard_beats_priority() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=100_000.0)
    b.add_job("vip", 1, 1, 0, [0], 0, 100, 99_000.0)
    b.add_job("starved", 1, 1, 0, [0], 0, -5, 0.0)  # waited 27 h
    s = b.build()
    assert [s.job_keys[i] for i in get_policy("cost-aware").order(s)] == ["starved", "vip"]


def test_max_min_lp_gives_the_fast_chip_to_the_class_that_gains_most() -> None:
    from huangpu.scheduling.maxmin import max_min_allocation

    # Two classes, 4 accelerators of demand each; 4 fast (k=0) and 4 slow (k=1) chips.
    # Class 0 runs 4× faster on the fast chip, class 1 only 1.25× (rates 1.0 vs 0.8).
    # If class 0 gets x fast chips (and 4 − x slow), its normalised throughput is
    # (4x + (4 − x)) / 16 and class 1's is ((4 − x) + 0.8x) / 4. Max-min equalises them:
    # 3x + 4 = 16 − 0.8x, so x = 12 / 3.8 ≈ 3.158 and both get ≈ 0.842. The fast chips go
    # mostly to the class that gains most from them.
    rates = np.array([[4.0, 1.0], [1.0, 0.8]])
    y = max_min_allocation(np.array([4.0, 4.0]), np.ones(2), rates, np.array([4.0, 4.0]))
    x = 12 / 3.8
    assert y == pytest.approx(np.array([[x, 4 - x], [4 - x, x]]), abs=1e-4)


def test_max_min_weights_and_scarcity() -> None:
    from huangpu.scheduling.maxmin import max_min_allocation

    # one chip type, 6 accelerators, two classes wanting 6 each, weights 2:1 -> 4 and 2
    y = max_min_allocation(
        np.array([6.0, 6.0]), np.array([2.0, 1.0]), np.ones((2, 1)), np.array([6.0])
    )
    assert y[:, 0] == pytest.approx([4.0, 2.0], abs=1e-6)


def test_max_min_policy_serves_the_org_below_its_share_first() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=100.0)
    b.add_node(0, "n1", 0, "r", [6, 7], 80)
    b.add_running("big", 0, 0, 0.0, [("n1", 6)])  # org 0 holds 6 of 8
    b.add_job("a", 1, 1, 0, [0], 0, 0, 0.0)  # org 0, submitted first
    b.add_job("b", 1, 1, 0, [0], 1, 0, 50.0)  # org 1, holds nothing
    s = b.build()
    order = [s.job_keys[i] for i in get_policy("max-min-fairness").order(s)]
    assert order == ["b", "a"]


def test_max_min_lp_merged_classes_reach_the_same_optimum() -> None:
    from huangpu.scheduling.maxmin import max_min_allocation

    # Six one-job classes of two workload kinds on two chips, and the same LP with each kind
    # merged into one row (``count`` = 3): the same max-min level and the same ε term, and
    # the merged row's accelerators split evenly give every job that level.
    kinds = np.array([0, 0, 0, 1, 1, 1])
    kind_rates = np.array([[4.0, 1.0], [1.0, 0.8]])
    capacity = np.array([2.0, 2.0])
    full = max_min_allocation(np.ones(6), np.ones(6), kind_rates[kinds], capacity)
    merged = max_min_allocation(
        np.array([3.0, 3.0]), np.ones(2), kind_rates, capacity, np.array([3.0, 3.0])
    )

    def normalised(y: np.ndarray, rates: np.ndarray, demand: np.ndarray) -> np.ndarray:
        return np.asarray((y * rates).sum(axis=1) / (demand * rates.max(axis=1)))

    n_full = normalised(full, kind_rates[kinds], np.ones(6))
    n_merged = normalised(merged, kind_rates, np.array([3.0, 3.0]))
    assert n_full.min() == pytest.approx(n_merged.min(), abs=1e-6)
    assert n_full.sum() == pytest.approx(3 * n_merged.sum(), abs=1e-6)


def test_max_min_policy_serves_the_org_furthest_below_its_rate_not_the_oldest() -> None:
    # In rounds nothing is held when a round is planned: the order is by service received
    # per second in the system over the LP's rate, so an old job that has had its share goes
    # after a younger one that has had none (no 6-hour "oldest first" guard, no FIFO).
    b = SnapshotBuilder(["a100"], ["sh"], now=100_000.0)
    b.add_node(0, "n1", 0, "r", [8], 80)
    b.set_quotas(Quotas(decayed_usage=np.array([90_000.0, 0.0])))
    b.add_job("served", 1, 1, 0, [0], 0, 0, 0.0)  # org 0: ~0.9 device-s per s since t = 0
    b.add_job("fresh", 1, 1, 0, [0], 1, 0, 70_000.0)  # org 1: nothing yet, but > 6 h old
    s = b.build()
    order = [s.job_keys[i] for i in get_policy("max-min-fairness").order(s)]
    assert order == ["fresh", "served"]
