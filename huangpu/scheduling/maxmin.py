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
scipy's HiGHS: arrays in, arrays out. One solver per thread is kept and warm-started from
the last basis of the same size, so the last bits of an answer can depend on the solve before
it; ``reset_solver`` makes a sequence of calls repeat exactly.
"""

from __future__ import annotations

import math
import threading
from typing import Any

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


class _Shape:
    """What the LP's arrays share for one (classes, chip types) shape, built once: the
    index arrays of the Y variables and the constant parts of the model."""

    __slots__ = ("col_lower", "gi", "ki", "row_lower", "y_data", "y_index", "y_start")

    def __init__(self, g_n: int, k_n: int) -> None:
        t = g_n * k_n
        self.gi, self.ki = np.divmod(np.arange(t), k_n)
        # each Y column has rows (g, G + g, 2G + k), ascending, with values (−coef, 1, 1)
        self.y_start = np.arange(0, 3 * t + 1, 3).astype(np.int32)
        rows = np.stack([self.gi, g_n + self.gi, 2 * g_n + self.ki], axis=1).ravel()
        self.y_index = rows.astype(np.int32)
        self.y_data = np.ones((t, 3))
        self.col_lower = np.zeros(t + 1)
        self.row_lower = np.full(2 * g_n + k_n, -np.inf)


_shapes: dict[tuple[int, int], _Shape] = {}
_SHAPES_KEPT = 64


def _shape(g_n: int, k_n: int) -> _Shape:
    got = _shapes.get((g_n, k_n))
    if got is None:
        if len(_shapes) >= _SHAPES_KEPT:
            _shapes.clear()
        got = _shapes[(g_n, k_n)] = _Shape(g_n, k_n)
    return got


_kept = threading.local()


def reset_solver() -> None:
    """Forget the kept solver and its warm-start bases (this thread). A simulation calls it
    when it starts, so that the same trace and seed give the same answers to the last bit."""
    _kept.__dict__.clear()


def _solver(ipm: bool) -> Any:
    """A ``_Highs`` with linprog's options. Simplex (small LPs): one per thread, kept, since
    building one costs a third of a small solve. Interior point (large LPs): a fresh one, so
    a kept one holds no large model."""
    assert _hc is not None
    highs = None if ipm else getattr(_kept, "highs", None)
    if highs is None:
        highs = _hc._Highs()
        if highs.passOptions(_options(ipm)) == _hc.HighsStatus.kError:
            return None
        if not ipm:
            _kept.highs = highs
    return highs


def _solved(highs: Any) -> bool:
    return bool(
        highs.run() != _hc.HighsStatus.kError
        and highs.getModelStatus() == _hc.HighsModelStatus.kOptimal
    )


def _highs(
    c: FloatArray,
    a_ub: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray],
    b_ub: FloatArray,
    ub: FloatArray,
    ipm: bool,
    col_lower: FloatArray | None = None,
    row_lower: FloatArray | None = None,
) -> FloatArray | None:
    """``linprog(c, A_ub, b_ub, bounds=(0, ub), method=...).x``, or None where linprog's
    status would not be 0: the same HiGHS model, options and checks, without linprog's
    input cleaning (four times the solve itself on a 26-class LP, once per round).
    ``col_lower``, ``row_lower``: zeros and −inf of the right sizes, where the caller has them."""
    assert _hc is not None
    n_col, n_row = c.size, b_ub.size
    indptr, indices, data = a_ub  # compressed columns
    lp = _hc.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    matrix = lp.a_matrix_
    matrix.num_col_ = n_col
    matrix.num_row_ = n_row
    matrix.format_ = _hc.MatrixFormat.kColwise
    # (lists: pybind11 copies them into HiGHS' vectors faster than arrays; same numbers)
    lp.col_cost_ = c
    lp.col_lower_ = np.zeros(n_col) if col_lower is None else col_lower
    # kHighsInf is inf: linprog's mapping of infinite bounds to HiGHS' leaves them as they are
    lp.col_upper_ = ub.tolist()
    lp.row_lower_ = np.full(n_row, -_hc.kHighsInf) if row_lower is None else row_lower
    lp.row_upper_ = b_ub.tolist()
    matrix.start_ = indptr.tolist()
    matrix.index_ = indices.tolist()
    matrix.value_ = data.tolist()
    highs = _solver(ipm)
    if highs is None:
        return None
    if highs.passModel(lp) == _hc.HighsStatus.kError:
        return None
    # Simplex starts from the optimal basis of the last LP of this size: one round's LP
    # differs from the last one by a few demands, and this takes a third of the time of a
    # cold start. The optimum is the same; its last bits can differ from a cold solve's
    # (by 1e-12 on Gavel's LPs), hence ``reset_solver`` for runs that must repeat exactly.
    bases: dict[tuple[int, int], Any] | None = (
        None if ipm else _kept.__dict__.setdefault("bases", {})
    )
    basis = None if bases is None else bases.get((n_col, n_row))
    if basis is not None and highs.setBasis(basis) == _hc.HighsStatus.kError:
        highs.passModel(lp)  # a cold start after all
        basis = None
    solved = _solved(highs)
    if not solved and basis is not None:  # a warm start that failed: cold, as linprog would
        solved = highs.passModel(lp) != _hc.HighsStatus.kError and _solved(highs)
    if not solved:
        return None
    if bases is not None:
        if len(bases) >= _SHAPES_KEPT:
            bases.clear()
        bases[(n_col, n_row)] = highs.getBasis()
    solution = highs.getSolution()
    x = np.array(solution.col_value)
    slack = b_ub - np.array(solution.row_value)
    tol = _CHECK_TOL
    # linprog's checks; a NaN fails each comparison, so fails them as linprog's NaN check does
    if math.isnan(highs.getObjectiveValue()):
        return None
    if not (((x >= -tol) & (x <= ub + tol)).all() and (slack >= -tol).all()):
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
    shape = _shape(g_n, k_n)
    gi, ki = shape.gi, shape.ki
    coef = (rates * scale[:, None]).ravel()  # rates[gi, ki] * scale[gi]
    # objective (minimised): −t − ε Σ n_g
    c = np.zeros(n_var)
    c[:t] = -EPSILON * coef * (1.0 if count is None else count[gi])
    c[t] = -1.0
    # rows 0..G-1: w_g t − n_g ≤ 0 (only live classes); G..2G-1: Σ_k Y ≤ D_g; then Σ_g Y ≤ C_k
    live_rows = np.flatnonzero(live)
    b_ub = np.concatenate([shape.col_lower[:g_n], demand, capacity])
    # a chip a class cannot run on (rate 0) gets no accelerators
    runs = rates.reshape(-1) > 0
    # Interior point: ~8× faster than simplex on wide, degenerate LPs (2,500 classes); small
    # ones (merged classes: Gavel's 26) solve faster with HiGHS' own choice.
    ipm = g_n > 500
    if _hc is not None:
        # The constraint matrix in compressed columns, as scipy would hand it to HiGHS: each
        # Y column has rows (g, G + g, 2G + k), ascending; then t's column, the live rows.
        indptr = np.append(shape.y_start, np.int32(3 * t + live_rows.size))
        indices = np.concatenate([shape.y_index, live_rows.astype(np.int32)])
        y_data = shape.y_data.copy()
        y_data[:, 0] = -coef
        data = np.concatenate([y_data.ravel(), weight[live]]).astype(np.float64)
        ub = np.append(np.where(runs, np.inf, 0.0), np.inf)
        csc = (indptr, indices, data)
        x = _highs(c, csc, b_ub.astype(np.float64), ub, ipm, shape.col_lower, shape.row_lower)
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
