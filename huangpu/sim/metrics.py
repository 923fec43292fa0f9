"""What a run measured, as one plain dict of numbers (JSON-ready, stable key order).

- JCT and queueing delay (first start − submit): average, p50, p99, over the trace's window
  when it has one (Gavel averages jobs 4000–5000) and over all finished jobs otherwise.
- makespan: last finish − first submit.
- utilisation per chip model: allocated device-seconds ÷ (devices × span).
- allocation rate: allocated ÷ total devices, time-averaged and at its peak (fragmentation of
  fractional GPUs is FGD's measure, reported by ``alibaba_alloc``).
- fairness: Jain's index of per-org share over entitlement (equal weights), finish-time
  fairness ρ = JCT ÷ time alone on the job's best chip (Themis / Gavel's ρ with an isolated
  baseline), and its worst value.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from huangpu.sim.billing import Bill
from huangpu.sim.engine import SimResult


def _stats(values: np.ndarray, prefix: str) -> dict[str, float]:
    if not values.size:
        return {
            f"{prefix}_avg_h": float("nan"),
            f"{prefix}_p50_h": float("nan"),
            f"{prefix}_p99_h": float("nan"),
        }
    h = values / 3600
    return {
        f"{prefix}_avg_h": float(h.mean()),
        f"{prefix}_p50_h": float(np.percentile(h, 50)),
        f"{prefix}_p99_h": float(np.percentile(h, 99)),
    }


def jain(x: np.ndarray) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    if not x.size or not np.any(x > 0):
        return float("nan")
    return float(x.sum() ** 2 / (x.size * (x**2).sum()))


def measured_rows(r: SimResult) -> np.ndarray:
    rows = np.arange(len(r.keys))
    if r.window:
        rows = rows[(rows >= r.window[0]) & (rows < r.window[1])]
    return rows


def chip_usage(r: SimResult) -> dict[str, float]:
    """Allocated device-seconds per chip model, from the usage segments."""
    used: defaultdict[str, float] = defaultdict(float)
    for seg in r.segments:
        used[r.world.pools[seg.pool].chip] += seg.devices * (seg.end - seg.start)
    return dict(used)


def summarise(r: SimResult, bill: Bill | None = None) -> dict[str, Any]:
    rows = measured_rows(r)
    finished = rows[~np.isnan(r.finish[rows])]
    jct = r.finish[finished] - r.submit[finished]
    started = rows[~np.isnan(r.first_start[rows])]
    queue = r.first_start[started] - r.submit[started]
    done_all = ~np.isnan(r.finish)
    span = float(r.end_time - (r.submit.min() if r.submit.size else 0.0))
    capacity = r.world.capacity_by_chip()
    used = chip_usage(r)
    out: dict[str, Any] = {
        "trace": r.trace,
        "policy": r.policy,
        "jobs_arrived": len(r.keys),
        "jobs_measured": int(rows.size),
        "jobs_finished_measured": int(finished.size),
        **_stats(jct, "jct"),
        **_stats(queue, "queueing"),
        "makespan_h": float((np.nanmax(r.finish) - r.submit.min()) / 3600)
        if done_all.any()
        else float("nan"),
        "utilisation": {
            chip: (used.get(chip, 0.0) / (capacity[chip] * span) if span > 0 else 0.0)
            for chip in r.world.chips
        },
    }
    total = float(sum(capacity.values()))
    if r.sample_busy.size:
        alloc = r.sample_busy.sum(axis=1) / total
        out["allocation_rate_avg"] = float(alloc.mean())
        out["allocation_rate_peak"] = float(alloc.max())
    iso = r.isolated_s[finished]
    rho = jct / np.where(iso > 0, iso, np.nan)
    out["ftf_rho_avg"] = float(np.nanmean(rho)) if rho.size else float("nan")
    out["ftf_rho_max"] = float(np.nanmax(rho)) if rho.size else float("nan")
    share = org_shares(r)
    out["jain_share_over_entitlement"] = jain(np.array([v["ratio"] for v in share.values()]))
    out["preemptions"] = int(r.preemptions.sum())
    out["migrations"] = int(r.migrations.sum())
    out["events"] = r.events
    out["cycles"] = r.cycles
    out["pending_reasons"] = r.pending_reasons
    if bill is not None and bill.billed:
        out["cost_by_org_fen"] = bill.cost_by_org
        out["subsidy_by_program_fen"] = bill.subsidy_by_program
        out["revenue_by_supplier_fen"] = bill.revenue_by_supplier
        out["domestic_device_hours"] = round(bill.domestic_device_hours, 3)
        out["other_device_hours"] = round(bill.other_device_hours, 3)
        out["orgs_at_cap"] = bill.capped_orgs
        out["program_exhausted_at_h"] = bill.program_exhausted_at_h
    return out


def org_shares(r: SimResult) -> dict[str, dict[str, float]]:
    """Per org: share of allocated device-seconds, entitlement (equal among orgs that had
    work), and their ratio. One org per job (Gavel) makes this per-job fairness."""
    used: defaultdict[str, float] = defaultdict(float)
    for seg in r.segments:
        used[r.orgs[seg.job]] += seg.devices * (seg.end - seg.start)
    orgs = sorted(set(r.orgs))
    total = sum(used.values()) or 1.0
    entitled = 1.0 / len(orgs) if orgs else 0.0
    return {
        o: {
            "share": used[o] / total,
            "entitlement": entitled,
            "ratio": (used[o] / total) / entitled if entitled else 0.0,
        }
        for o in orgs
    }
