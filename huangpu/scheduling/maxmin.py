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
import numpy.typing as npt
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from huangpu.scheduling.snapshot import FloatArray

try:  # scipy's bundled HiGHS, driven as ``linprog`` drives it (see ``_highs``)
    from scipy.optimize._highspy import _core as _hc
except ImportError:  # pragma: no cover - another scipy layout: plain ``linprog``
    _hc = None

EPSILON = 1e-3
# linprog's feasibility check of a solution HiGHS calls optimal (``_check_result``: tol 1e-9)
_CHECK_TOL = float(np.sqrt(1e-9) * 10)
_highs_options: dict[str, object] = {}


def _options(ipm: bool) -> object:
    """The options ``linprog(method="highs"/"highs-ipm")`` passes HiGHS, built once."""
    key = "ipm" if ipm else "choose"
    got = _highs_options.get(key)
    if got is None:
        assert _hc is not None
        o = _hc.HighsOptions()
        o.presolve = "on"
        o.highs_debug_level = _hc.HighsDebugLevel.kHighsDebugLevelNone
        o.log_to_console = False
        o.output_flag = False
        o.simplex_strategy = _hc.simplex_constants.SimplexStrategy.kSimplexStrategyDual
        if ipm:
            o.solver = "ipm"
        got = _highs_options[key] = o
    return got


def _highs(
    c: FloatArray,
    a_ub: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray],
    b_ub: FloatArray,
    ub: FloatArray,
    ipm: bool,
) -> FloatArray | None:
    """``linprog(c, A_ub, b_ub, bounds=(0, ub), method=...).x``, or None where linprog's
    status would not be 0: the same HiGHS model, options and checks, without linprog's
    input cleaning (four times the solve itself on a 26-class LP, once per round)."""
    assert _hc is not None
    n_col, n_row = c.size, b_ub.size
    indptr, indices, data = a_ub  # compressed columns
    lp = _hc.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_row
    lp.a_matrix_.format_ = _hc.MatrixFormat.kColwise
    lp.col_cost_ = c
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.where(np.isinf(ub), _hc.kHighsInf, ub)
    lp.row_lower_ = np.full(n_row, -_hc.kHighsInf)
    lp.row_upper_ = np.where(np.isinf(b_ub), np.copysign(_hc.kHighsInf, b_ub), b_ub)
    lp.a_matrix_.start_ = indptr
    lp.a_matrix_.index_ = indices
    lp.a_matrix_.value_ = data
    highs = _hc._Highs()
    if highs.passOptions(_options(ipm)) == _hc.HighsStatus.kError:
        return None
    if highs.passModel(lp) == _hc.HighsStatus.kError:
        return None
    if highs.run() == _hc.HighsStatus.kError:
        return None
    if highs.getModelStatus() != _hc.HighsModelStatus.kOptimal:
        return None
    solution = highs.getSolution()
    x = np.array(solution.col_value)
    slack = lp.row_upper_ - np.asarray(solution.row_value)
    fun = highs.getInfo().objective_function_value
    tol = _CHECK_TOL
    if np.isnan(x).any() or np.isnan(fun) or np.isnan(slack).any():
        return None
    if not np.all((x >= -tol) & (x <= ub + tol)) or (slack < -tol).any():
        return None
    return x


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
    live_rows = np.flatnonzero(live)
    b_ub = np.concatenate([np.zeros(g_n), demand, capacity])
    # a chip a class cannot run on (rate 0) gets no accelerators
    runs = rates.reshape(-1) > 0
    # Interior point: ~8× faster than simplex on wide, degenerate LPs (2,500 classes); small
    # ones (merged classes: Gavel's 26) solve faster with HiGHS' own choice.
    ipm = g_n > 500
    if _hc is not None:
        # The constraint matrix in compressed columns, as scipy would hand it to HiGHS: each
        # Y column has rows (g, G + g, 2G + k), ascending; then t's column, the live rows.
        indptr = np.concatenate([np.arange(0, 3 * t + 1, 3), [3 * t + live_rows.size]])
        indices = np.concatenate(
            [np.stack([gi, g_n + gi, 2 * g_n + ki], axis=1).ravel(), live_rows]
        )
        ones = np.ones(t)
        data = np.concatenate([np.stack([-coef, ones, ones], axis=1).ravel(), weight[live]])
        ub = np.append(np.where(runs, np.inf, 0.0), np.inf)
        csc = (indptr.astype(np.int32), indices.astype(np.int32), data.astype(np.float64))
        x = _highs(c, csc, b_ub.astype(np.float64), ub, ipm)
        if x is None:
            return np.zeros((g_n, k_n))
        return np.asarray(x[:t].reshape(g_n, k_n), dtype=np.float64)
    rows = np.concatenate([gi, g_n + gi, 2 * g_n + ki, live_rows])
    cols = np.concatenate([np.arange(t)] * 3 + [np.full(int(live.sum()), t)])
    vals = np.concatenate([-coef, np.ones(t), np.ones(t), weight[live]])
    a_ub = coo_matrix((vals, (rows, cols)), shape=(2 * g_n + k_n, n_var)).tocsr()
    bounds: list[tuple[float, float | None]] = [(0.0, None if ok else 0.0) for ok in runs]
    bounds.append((0.0, None))
    method = "highs-ipm" if ipm else "highs"
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=method)
    if result.status != 0:
        return np.zeros((g_n, k_n))
    return np.asarray(result.x[:t].reshape(g_n, k_n), dtype=np.float64)
