"""Per (job, cell) numbers the fast policies rank by: speed, net price, cost per unit of work,
runtime and deadline, plus the feasibility stages that explain a job no cell can take.

All vectorised over a block of jobs × all cells. Money stays integer fen until the cost per
unit of work, which only ranks and is never billed (the ledger rates usage itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.snapshot import BoolArray, FloatArray, IntArray, Snapshot


@dataclass(frozen=True, eq=False)
class Block:
    rows: IntArray  # job rows
    chip: BoolArray  # stage 1: the cell's chip is accepted
    memory: BoolArray  # stage 2: ... with enough memory per accelerator
    pool: BoolArray  # stage 3: ... in a pool it may use (region, residency, suppliers, stack)
    gang: BoolArray  # stage 4: ... with an interconnect domain holding enough nodes
    price_ok: BoolArray  # stage 5: ... at or under its max price, after vouchers
    speed: FloatArray  # progress units/s per accelerator (0: this chip cannot run the class)
    net_price: FloatArray  # fen per accelerator-hour after the org's voucher subsidy
    cost: FloatArray  # fen per progress unit: net price ÷ speed
    runtime: FloatArray  # seconds on this cell; NaN unknown
    misses: BoolArray  # would finish after the job's deadline
    fails: IntArray  # per job: 0 if some cell passes every stage, else the first stage failed

    @property
    def allowed(self) -> BoolArray:
        return self.price_ok


def block_metrics(s: Snapshot, cells: Cells, rows: IntArray) -> Block:
    cc, cp = cells.chip, cells.pool
    chip = np.take(s.job_chip_mask[rows], cc, axis=1)
    memory = chip & (cells.mem_max[None, :] >= s.job_min_mem[rows, None])
    pool = memory & np.take(s.job_pool_mask[rows], cp, axis=1)
    residency = s.job_residency[rows]
    if (residency >= 0).any():
        home = s.pool_region[cp]
        pool &= (residency[:, None] < 0) | (home[None, :] == residency[:, None])
    speed = np.take(s.market.throughput[s.job_class[rows]], cc, axis=1)
    gang = pool & (cells.max_domain_nodes[None, :] >= s.job_nodes[rows, None]) & (speed > 0)
    price = s.market.price_fen[cp, cc]  # per cell, fen per accelerator-hour
    keep_bp = 10_000 - np.take(s.market.subsidy_bp[s.job_org[rows]], cc, axis=1)
    max_price = s.job_max_price[rows, None]
    # Exact in integers: price × (1 − subsidy) ≤ max  ⇔  price × keep_bp ≤ max × 10,000.
    price_ok = gang & ((max_price == 0) | (price[None, :] * keep_bp <= max_price * 10_000))
    net = price[None, :] * keep_bp / 10_000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = np.where(speed > 0, net / (speed * 3600.0), np.inf)
        total = (s.job_accel[rows] * s.job_nodes[rows]).astype(np.float64)[:, None]
        by_work = s.job_work[rows, None] / (speed * total)
        best = np.where(memory, speed, 0.0).max(axis=1, initial=0.0)[:, None]
        by_estimate = s.job_runtime[rows, None] * best / speed
        runtime = np.where(np.isnan(by_work), by_estimate, by_work)
        runtime = np.where(speed > 0, runtime, np.nan)
    misses = np.isfinite(s.job_deadline[rows, None]) & (
        s.now + runtime > s.job_deadline[rows, None]
    )
    # The first stage no cell passes (budget sits between gang and price, as in PendingReason).
    placeable = price_ok.any(axis=1)
    blocked = s.quotas.blocked[s.job_org[rows]]
    if placeable.all() and not blocked.any():
        fails = np.zeros(rows.size, dtype=np.int64)  # the usual block: nothing to find
    else:
        fails = np.where(~placeable, 6, 0)
        fails = np.where(blocked, 5, fails)
        for stage, mask in ((4, gang), (3, pool), (2, memory), (1, chip)):
            fails = np.where(~mask.any(axis=1), stage, fails)
    return Block(rows, chip, memory, pool, gang, price_ok, speed, net, cost, runtime, misses, fails)


def rank_cells(primary: FloatArray, speed: FloatArray) -> IntArray:
    """Cells per row, best first: by ``primary`` ascending, ties by speed descending, then by
    cell order (pool, chip). Two stable sorts, so ties never depend on anything else."""
    by_speed = np.argsort(-speed, axis=1, kind="stable")
    then = np.argsort(np.take_along_axis(primary, by_speed, axis=1), axis=1, kind="stable")
    return np.asarray(np.take_along_axis(by_speed, then, axis=1), dtype=np.int64)
