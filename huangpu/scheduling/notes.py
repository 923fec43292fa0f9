"""Words for the tenant: why a job can never run here (structural), and why it went where it did.

``structural_pending`` reads the stages of ``metrics.Block`` in ``PendingReason`` order, so a
job is told about the first thing that stops it: chip, memory, pool (region, residency,
suppliers, software), gang size, then the org's budget stop, then its max price.
``placement_note`` states the trade-off made: price after vouchers, expected runtime, and
what the deadline cost when the cheapest pool would have missed it.
"""

from __future__ import annotations

import math

import numpy as np

from huangpu.scheduling.cells import Cells
from huangpu.scheduling.metrics import Block
from huangpu.scheduling.result import Pending, PendingReason
from huangpu.scheduling.snapshot import IntArray, Snapshot


def _names(names: tuple[str, ...], indices: IntArray) -> str:
    return ", ".join(names[int(i)] for i in np.unique(indices))


def structural_pending(
    s: Snapshot, job: int, b: Block | None, i: int, cells: Cells
) -> Pending | None:
    key = s.job_keys[job]
    chips = _names(s.chips, np.flatnonzero(s.job_chip_mask[job])) or "none"
    if b is None or not b.chip[i].any():
        return Pending(key, PendingReason.NO_MATCHING_CHIP, {"chips": chips})
    if not b.memory[i].any():
        return Pending(
            key,
            PendingReason.INSUFFICIENT_MEMORY,
            {
                "min_memory_gib": float(s.job_min_mem[job]),
                "largest_memory_gib": float(cells.mem_max[b.chip[i]].max()),
            },
        )
    if not b.pool[i].any():
        pools = _names(s.pools, cells.pool[b.memory[i]])
        return Pending(key, PendingReason.NO_POOL_ALLOWED, {"pools": pools})
    if not b.gang[i].any():
        if not (b.pool[i] & (b.speed[i] > 0)).any():
            why = f"{chips} (none can run this workload class)"
            return Pending(key, PendingReason.NO_MATCHING_CHIP, {"chips": why})
        return Pending(
            key,
            PendingReason.GANG_DOES_NOT_FIT,
            {
                "nodes": int(s.job_nodes[job]),
                "accelerators": int(s.job_accel[job]),
                "largest_domain": int(cells.max_domain_nodes[b.pool[i]].max()),
            },
        )
    org = int(s.job_org[job])
    if s.quotas.blocked[org]:
        return Pending(
            key,
            PendingReason.BUDGET_EXHAUSTED,
            {"org": s.orgs[org], "why": s.quotas.block_reason[org]},
        )
    if not b.price_ok[i].any():
        net = np.where(b.gang[i], b.net_price[i], np.inf)
        c = int(np.argmin(net))
        return Pending(
            key,
            PendingReason.OVER_MAX_PRICE,
            {
                "max_price_fen": int(s.job_max_price[job]),
                "cheapest_fen": int(np.ceil(net[c])),
                "pool": s.pools[int(cells.pool[c])],
            },
        )
    return None


def _duration(seconds: float) -> str:
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _where(s: Snapshot, cells: Cells, c: int) -> str:
    return f"{s.pools[int(cells.pool[c])]} ({s.chips[int(cells.chip[c])]})"


def placement_note(
    s: Snapshot, cells: Cells, b: Block, i: int, c: int, cand: IntArray | list[int]
) -> str:
    parts = [f"on {_where(s, cells, c)}"]
    net = float(b.net_price[i, c])
    if net > 0:
        parts.append(f"{net / 100:.2f} CNY per accelerator-hour after vouchers")
    runtime = float(b.runtime[i, c])
    if math.isfinite(runtime):
        parts.append(f"about {_duration(runtime)} to finish")
    first = int(cand[0])
    if first != c:
        if b.cost[i, first] > 0:
            dearer = 100.0 * (b.cost[i, c] / b.cost[i, first] - 1.0)
            how = f"costs {dearer:+.0f}% per unit of work"
        else:
            slower = 100.0 * (1.0 - b.speed[i, c] / b.speed[i, first])
            how = f"runs {slower:.0f}% slower"
        parts.append(f"first choice {_where(s, cells, first)} was full; this {how}")
    if math.isfinite(float(s.job_deadline[int(b.rows[i])])):
        if b.misses[i, c]:
            parts.append("no free pool meets the deadline, so the fastest free one was chosen")
        else:
            cheapest = int(cand[int(np.argmin(b.cost[i, cand]))])
            if b.misses[i, cheapest] and b.cost[i, cheapest] > 0:
                dearer = 100.0 * (b.cost[i, c] / b.cost[i, cheapest] - 1.0)
                parts.append(
                    f"the cheapest, {_where(s, cells, cheapest)}, would miss the deadline; "
                    f"this meets it for {dearer:+.0f}% per unit of work"
                )
            else:
                parts.append("meets the deadline")
    return "; ".join(parts)
