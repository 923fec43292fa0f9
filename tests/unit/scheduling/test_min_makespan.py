"""The makespan LP and the ``min-makespan`` policy on cases small enough to do by hand."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling.makespan import _solve, min_makespan_allocation
from huangpu.scheduling.policies import get_policy, policy_names
from huangpu.scheduling.policies.min_makespan import plan_round


def test_gang_and_single_share_one_chip_by_hand() -> None:
    # Two devices. A is a 2-device gang with 20 units at 2 units/s (10 s alone); B is one
    # device with 10 units at 1 unit/s (10 s alone). Both done by T needs A's share 10/T and
    # B's 10/T with 2·(10/T) + 10/T ≤ 2 devices: T = 15 s.
    t, x = min_makespan_allocation(
        np.array([20.0, 10.0]), np.array([[2.0], [1.0]]), np.array([2.0, 1.0]), np.array([2.0])
    )
    assert t == pytest.approx(15.0)
    np.testing.assert_allclose(x[:, 0], [10 / 15, 10 / 15], atol=1e-7)


def test_heterogeneous_chips_by_hand() -> None:
    # One fast and one slow device; two jobs of 40 units, each 2 units/s on fast, 1 on slow.
    # Together 3 units/s for 80 units: T = 80/3 s, each job half its time on each chip.
    t, x = min_makespan_allocation(
        np.array([40.0, 40.0]),
        np.array([[2.0, 1.0], [2.0, 1.0]]),
        np.array([1.0, 1.0]),
        np.array([1.0, 1.0]),
    )
    assert t == pytest.approx(80 / 3)
    np.testing.assert_allclose(x.sum(axis=0), [1.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(x @ np.array([2.0, 1.0]), [1.5, 1.5], atol=1e-7)


def test_specialised_jobs_go_where_they_are_fast() -> None:
    # A runs 4× faster on fast; B is as fast on either. Best: A on fast (10 s), B on slow
    # (20 s); T = 20 is B's time alone, so A need not even hold the fast chip all the time.
    t, x = min_makespan_allocation(
        np.array([40.0, 40.0]),
        np.array([[4.0, 1.0], [2.0, 2.0]]),
        np.array([1.0, 1.0]),
        np.array([1.0, 1.0]),
    )
    assert t == pytest.approx(20.0)
    assert x[1].sum() == pytest.approx(1.0)


def test_nothing_to_do_and_jobs_that_fit_nowhere() -> None:
    t, x = min_makespan_allocation(
        np.array([0.0, 5.0]), np.array([[1.0], [1.0]]), np.array([1.0, 4.0]), np.array([2.0])
    )
    assert t == 0.0  # the one job with work needs 4 devices of 2: it does not count
    assert not x.any()


def test_registered() -> None:
    assert "min-makespan" in policy_names()
    assert get_policy("min-makespan").name == "min-makespan"


def test_merging_short_jobs_keeps_the_optimum() -> None:
    # The LP over merged short jobs against the LP with every job its own column.
    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(5, 40))
        cls = rng.integers(0, 3, n)
        table = rng.uniform(0.2, 4.0, (3, 2)) * (rng.random((3, 2)) > 0.2)
        table[:, 0] = np.maximum(table[:, 0], 0.1)  # every class runs somewhere
        sizes = rng.choice([1.0, 2.0], n)
        rates = table[cls] * sizes[:, None]
        work = rng.uniform(1.0, 100.0, n) ** 2
        capacity = rng.integers(2, 6, 2).astype(np.float64)
        t, x = min_makespan_allocation(work, rates, sizes, capacity)
        t_each, _ = _solve(work, rates, sizes, np.ones(n), capacity)
        assert t == pytest.approx(t_each, rel=1e-6)
        # The merged plan is a plan: each job done by T, within its time and the chips.
        assert (x.sum(axis=1) <= 1 + 1e-7).all()
        assert ((x * sizes[:, None]).sum(axis=0) <= capacity + 1e-6).all()
        assert ((x * rates).sum(axis=1) * t >= work * (1 - 1e-6)).all()


def test_off_plan_jobs_wait_for_the_second_pass() -> None:
    # Chips A and B, one device each. Jobs 0 and 1 are planned on A only, job 2 on B. Job 1
    # comes before job 2 but must not take B from it: it waits, and fills only what is left.
    share = np.array([[1.0, 0.0], [0.6, 0.0], [0.0, 0.4]])
    rel = np.array([[1.0, 0.5], [1.0, 0.9], [0.5, 1.0]])
    chip, order = plan_round(np.array([0, 1, 2]), share, rel, np.ones(3), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(chip, [0, -1, 1])
    np.testing.assert_array_equal(order, [0, 2, 1])
    # With a spare device on B, job 1 fills it in the second pass.
    chip, order = plan_round(np.array([0, 1, 2]), share, rel, np.ones(3), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(chip, [0, 1, 1])
    np.testing.assert_array_equal(order, [0, 2, 1])
