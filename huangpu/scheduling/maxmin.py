"""Weighted max-min fairness over job classes (Gavel's ``max_min_fairness_perf``), as an LP.

Gavel solves one variable per job and chip type; at city scale we solve one per *class* of
identical jobs (org × workload class), so 10,000 jobs of 500 orgs are a few thousand
variables. For class ``g`` with demand ``D_g`` accelerators and per-accelerator rates
``r[g, k]`` on chip type ``k`` (best ``b_g``), choose accelerators ``Y[g, k] ≥ 0``:

    maximise   t + ε · Σ_g n_g                      (ε: use spare capacity, Gavel's tiebreak)
    where      n_g = Σ_k Y[g, k] · r[g, k] / (D_g · b_g)   normalised throughput, in [0, 1]
    subject to n_g ≥ w_g · t                         weighted max-min
               Σ_k Y[g, k] ≤ D_g                     no class gets more than it can use
               Σ_g Y[g, k] ≤ C_k                     chips that exist

``n_g`` is the share of its ideal speed a class gets, so a class that runs 3× faster on an H100
is worth more there, which is how Gavel's allocation is heterogeneity-aware. Solved with
scipy's HiGHS. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from huangpu.scheduling.snapshot import FloatArray

EPSILON = 1e-3


def max_min_allocation(
    demand: FloatArray,
    weight: FloatArray,
    rates: FloatArray,
    capacity: FloatArray,
    count: FloatArray | None = None,
) -> FloatArray:
    """Accelerators of each chip type per class (G × K); zeros where nothing can be given.

    ``count`` (default 1 each): how many original classes a row stands for, when the caller
    has merged interchangeable classes; it weighs the row's ε term as that many classes."""
    g_n, k_n = rates.shape
    if g_n == 0 or k_n == 0:
        return np.zeros((g_n, k_n))
    best = rates.max(axis=1)
    live = (demand > 0) & (best > 0)
    scale = np.where(live, 1.0 / np.maximum(demand * best, 1e-300), 0.0)  # Y·r -> n_g
    n_var = g_n * k_n + 1  # Y row-major, then t
    t = g_n * k_n
    gi, ki = np.divmod(np.arange(g_n * k_n), k_n)
    coef = rates[gi, ki] * scale[gi]
    # objective (minimised): −t − ε Σ n_g
    c = np.zeros(n_var)
    c[:t] = -EPSILON * coef * (1.0 if count is None else count[gi])
    c[t] = -1.0
    # rows 0..G-1: w_g t − n_g ≤ 0 (only live classes); G..2G-1: Σ_k Y ≤ D_g; then Σ_g Y ≤ C_k
    rows = np.concatenate([gi, g_n + gi, 2 * g_n + ki, np.flatnonzero(live)])
    cols = np.concatenate([np.arange(t)] * 3 + [np.full(int(live.sum()), t)])
    vals = np.concatenate([-coef, np.ones(t), np.ones(t), weight[live]])
    a_ub = coo_matrix((vals, (rows, cols)), shape=(2 * g_n + k_n, n_var)).tocsr()
    b_ub = np.concatenate([np.zeros(g_n), demand, capacity])
    # a chip a class cannot run on (rate 0) gets no accelerators
    runs = (rates.reshape(-1) > 0).tolist()
    bounds: list[tuple[float, float | None]] = [(0.0, None if ok else 0.0) for ok in runs]
    bounds.append((0.0, None))
    # Interior point: ~8× faster than simplex on wide, degenerate LPs (2,500 classes); small
    # ones (merged classes: Gavel's 26) solve faster with HiGHS' own choice.
    method = "highs-ipm" if g_n > 500 else "highs"
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=method)
    if result.status != 0:
        return np.zeros((g_n, k_n))
    return np.asarray(result.x[:t].reshape(g_n, k_n), dtype=np.float64)
