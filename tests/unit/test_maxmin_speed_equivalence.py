"""``max_min_allocation`` keeps one HiGHS object, per-shape index arrays and warm-start bases
between calls: its answers must be as optimal as a fresh solver's, and a reset solver must
repeat a sequence of answers to the last bit (what makes simulations repeatable)."""

from __future__ import annotations

import numpy as np
import pytest

from huangpu.scheduling import maxmin


def _lps(n: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g_n = int(rng.integers(1, 30))
        k_n = int(rng.integers(1, 4))
        demand = rng.integers(0, 9, g_n).astype(float)
        weight = rng.uniform(0.5, 2.0, g_n)
        rates = rng.uniform(0.0, 3.0, (g_n, k_n)) * (rng.random((g_n, k_n)) > 0.2)
        capacity = rng.integers(1, 40, k_n).astype(float)
        out.append((demand, weight, rates, capacity))
    return out


def _fresh(args: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The answer of a new solver and new index arrays, as before any call."""
    with monkeypatch.context() as m:
        m.setattr(maxmin, "_kept", type(maxmin._kept)())
        m.setattr(maxmin, "_shapes", {})
        return maxmin.max_min_allocation(*args)


def _objective(y: np.ndarray, demand: np.ndarray, weight: np.ndarray, rates: np.ndarray) -> float:
    """The LP's objective for allocation ``y``: the weighted max-min level plus ε Σ n_g."""
    best = rates.max(axis=1)
    live = (demand > 0) & (best > 0)
    if not live.any():
        return 0.0
    n = (y * rates).sum(axis=1)[live] / (demand * best)[live]
    return float((n / weight[live]).min() + maxmin.EPSILON * n.sum())


def _feasible(y: np.ndarray, demand: np.ndarray, rates: np.ndarray, capacity: np.ndarray) -> bool:
    tol = 1e-7
    return bool(
        (y >= -tol).all()
        and (y.sum(axis=1) <= demand + tol).all()
        and (y.sum(axis=0) <= capacity + tol).all()
        and (y[rates == 0] <= tol).all()
    )


def test_warm_starts_reach_the_cold_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    lps = _lps(60)
    fresh = [_fresh(a, monkeypatch) for a in lps]
    order = np.random.default_rng(1).permutation(len(lps))
    maxmin.reset_solver()
    for i in list(order) + list(order[::-1]):
        demand, weight, rates, capacity = lps[i]
        got = maxmin.max_min_allocation(*lps[i])
        assert got.dtype == fresh[i].dtype and got.shape == fresh[i].shape
        assert _feasible(got, demand, rates, capacity)
        assert _objective(got, demand, weight, rates) == pytest.approx(
            _objective(fresh[i], demand, weight, rates), abs=1e-9
        )


def test_after_a_reset_the_same_calls_give_the_same_bits() -> None:
    lps = _lps(40, seed=7)

    def run() -> list[np.ndarray]:
        maxmin.reset_solver()
        return [maxmin.max_min_allocation(*a) for a in lps + lps[::-1]]

    first, second = run(), run()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_merged_count_weighs_the_epsilon_term() -> None:
    demand, weight, rates, capacity = _lps(1, seed=3)[0]
    count = np.arange(1, demand.size + 1, dtype=float)
    maxmin.reset_solver()
    a = maxmin.max_min_allocation(demand, weight, rates, capacity, count)
    maxmin.max_min_allocation(demand, weight, rates, capacity)
    b = maxmin.max_min_allocation(demand, weight, rates, capacity, count)
    assert _feasible(b, demand, rates, capacity)
    assert np.allclose(a, b, atol=1e-9)


def test_linprog_fallback_reaches_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    for args in _lps(10, seed=5):
        fast = maxmin.max_min_allocation(*args)
        with monkeypatch.context() as m:
            m.setattr(maxmin, "_hc", None)
            slow = maxmin.max_min_allocation(*args)
        assert slow.shape == fast.shape
        # both optimal: the same max-min level and total normalised throughput
        demand, _, rates, _ = args
        best = rates.max(axis=1)
        live = (demand > 0) & (best > 0)
        n_fast = (fast * rates).sum(axis=1)[live] / (demand * best)[live]
        n_slow = (slow * rates).sum(axis=1)[live] / (demand * best)[live]
        if live.any():
            assert n_fast.sum() == pytest.approx(n_slow.sum(), abs=1e-6)


def test_empty_and_dead_classes() -> None:
    assert maxmin.max_min_allocation(
        np.zeros(0), np.zeros(0), np.zeros((0, 3)), np.ones(3)
    ).shape == (0, 3)
    y = maxmin.max_min_allocation(
        np.array([0.0, 2.0]), np.ones(2), np.array([[1.0], [0.0]]), np.array([4.0])
    )
    assert np.array_equal(y, np.zeros((2, 1)))
