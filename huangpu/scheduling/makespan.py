"""Minimum makespan over heterogeneous chips (Gavel's ``min_total_duration_perf``), as one LP.

Gavel (``scheduler/policies/min_total_duration.py``) binary-searches the smallest T for which
an allocation exists in which every job's remaining work fits by T. With ``z = T_0 / T``
(``T_0`` a scale: the longest any job would take alone on its best chip) that is one LP, no
search. Job ``j`` has ``W_j`` units of work left, runs at ``r[j, k]`` units/s on chip type
``k`` as a whole gang of ``s_j`` devices (0: cannot run there), and gets the time fraction
``X[j, k]`` of ``k``:

    maximise   z + ε · mean_j Σ_k X[j, k] · r[j, k] / max_k r[j, k]   (ε: use spare chips)
    subject to Σ_k X[j, k] · r[j, k] · T_0 / W_j ≥ z      every job done by T = T_0 / z
               Σ_k X[j, k] ≤ 1                           one place at a time
               Σ_j s_j · X[j, k] ≤ C_k                    chips that exist
               X ≥ 0

``T`` is the fluid lower bound on the makespan (perfect time-sharing, no gangs to fit, no
rounds); ``X`` is a plan that reaches it. Solved with scipy's HiGHS. Pure: arrays in, arrays
out.

Short jobs are merged, exactly. Let ``T_lb`` be a cheap bound (the longest job alone on its
best chip; all device-seconds over all devices), kept valid for the merged LP by leaving that
longest job unmerged. A job that finishes by ``T_lb`` even alone on its *slowest* accepted
chip never needs more than its whole time, so such jobs with the same rates and size share
one variable per chip type (their summed work); each then gets the group's chip mix in
proportion to its work, scaled down to at most all of its time (still done by ``T``: at worst
it ran on its slowest chip all along). Same optimum (``tests/unit/scheduling``), a few
hundred columns instead of thousands: what lets a policy re-solve it every six-minute round.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from huangpu.scheduling.snapshot import FloatArray

# Weight of the spare-capacity term: small enough that it never buys throughput with makespan
# in any way that matters (it is at most ε of z), large enough for HiGHS to see it.
EPSILON = 1e-4


def min_makespan_allocation(
    work: FloatArray, rates: FloatArray, sizes: FloatArray, capacity: FloatArray
) -> tuple[float, FloatArray]:
    """(T, X): the fluid makespan in seconds and the time fraction of each job on each chip
    type (J × K). Jobs with no work left, or that can run nowhere, get a zero row and do not
    count; ``T`` is 0 when no job counts and ``inf`` when the LP fails."""
    j_n, k_n = rates.shape
    x_out = np.zeros((j_n, k_n))
    fits = (rates > 0) & (sizes[:, None] <= capacity[None, :])
    live = (work > 0) & fits.any(axis=1)
    rows = np.flatnonzero(live)
    if not rows.size or k_n == 0:
        return 0.0, x_out
    r = np.where(fits[rows], rates[rows], 0.0)
    w, s = work[rows], sizes[rows].astype(np.float64)
    best = r.max(axis=1)
    slowest = np.where(r > 0, r, np.inf).min(axis=1)
    alone = w / best
    t_lb = max(float(alone.max()), float((w * s / best).sum() / capacity.sum()))
    short = w / slowest <= t_lb
    # The longest job stays a column of its own, so T ≥ its time alone holds in the merged LP
    # too, and ``t_lb`` bounds the merged optimum as well as the original.
    short[int(alone.argmax())] = False
    # Groups: each long job alone; short jobs by identical (rates, size).
    keys = np.column_stack([r, s, np.where(short, -1.0, np.arange(rows.size))])
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    g_n = int(group.max()) + 1
    g_work = np.bincount(group, weights=w, minlength=g_n).astype(np.float64)
    g_count = np.bincount(group, minlength=g_n).astype(np.float64)
    first = np.zeros(g_n, dtype=np.int64)
    first[group[::-1]] = np.arange(rows.size)[::-1]
    t, y = _solve(g_work, r[first], s[first], g_count, capacity)
    if not math.isfinite(t):
        return t, x_out
    # Back to jobs: the group's time split in proportion to work, at most all of a job's time.
    x = y[group] * (w / g_work[group])[:, None]
    total = x.sum(axis=1, keepdims=True)
    x_out[rows] = np.where(total > 1.0, x / np.maximum(total, 1e-300), x)
    return t, x_out


def _solve(
    work: FloatArray, r: FloatArray, s: FloatArray, count: FloatArray, capacity: FloatArray
) -> tuple[float, FloatArray]:
    """The LP over groups: ``Y[g, k]`` is job-time fractions summed over the group's jobs."""
    n, k_n = r.shape
    best = r.max(axis=1)
    t0 = float((work / (best * count)).max())  # scale: z = T_0 / T stays near 1
    nx = n * k_n
    gi, ki = np.divmod(np.arange(nx), k_n)
    coef = r[gi, ki] * t0 / work[gi]  # Y → share of the group's work done by T_0
    # objective (minimised): −z − ε mean Σ Y·r/best
    c = np.zeros(nx + 1)
    c[:nx] = -EPSILON * (r[gi, ki] / best[gi]) / count.sum()
    c[nx] = -1.0
    # rows 0..n-1: z − Σ_k coef·Y ≤ 0; n..2n-1: Σ_k Y ≤ jobs in group; then Σ_g s·Y ≤ C_k
    a_rows = np.concatenate([gi, n + gi, 2 * n + ki, np.arange(n)])
    a_cols = np.concatenate([np.arange(nx)] * 3 + [np.full(n, nx)])
    a_vals = np.concatenate([-coef, np.ones(nx), s[gi], np.ones(n)])
    a_ub = coo_matrix((a_vals, (a_rows, a_cols)), shape=(2 * n + k_n, nx + 1)).tocsr()
    b_ub = np.concatenate([np.zeros(n), count, capacity.astype(np.float64)])
    upper = np.where(r.reshape(-1) > 0, np.repeat(count, k_n), 0.0)
    bounds = np.column_stack([np.zeros(nx + 1), np.append(upper, np.inf)])
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status != 0 or result.x[nx] <= 0:
        return math.inf, np.zeros((n, k_n))
    y = np.clip(result.x[:nx].reshape(n, k_n), 0.0, None)
    return t0 / float(result.x[nx]), y
