"""Voucher what-if: run a trace of tenants without and with a program, bill both through the
ledger, and say what the program did: subsidy spent and how fast, who hit the per-tenant cap,
how demand moved between domestic and other chips, and what each supplier earned.

The policy sees the program through the snapshot's subsidy table (net price), so a cost-aware
policy can move work to subsidised chips; the ledger applies budgets and caps as in production.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from huangpu.ledger import VoucherProgram
from huangpu.sim.billing import Bill, bill
from huangpu.sim.engine import SimConfig, simulate
from huangpu.sim.jobs import Trace


def compare(trace_factory: Any, program: VoucherProgram, config: SimConfig) -> dict[str, Any]:
    """``trace_factory()`` gives a fresh Trace (jobs are a stream, consumed by a run)."""
    base: Trace = trace_factory()
    without = bill(simulate(base, config))
    with_trace: Trace = trace_factory()
    with_trace.world = replace(with_trace.world, programs=(program,))
    with_program = bill(simulate(with_trace, config))
    return {"without": _view(without), "with": _view(with_program), "program": program.id}


def _view(b: Bill) -> dict[str, Any]:
    total = b.domestic_device_hours + b.other_device_hours
    return {
        "subsidy_by_program_fen": b.subsidy_by_program,
        "program_exhausted_at_h": b.program_exhausted_at_h,
        "subsidy_curve": b.subsidy_curve[:: max(1, len(b.subsidy_curve) // 50)],
        "orgs_at_cap": b.capped_orgs,
        "domestic_share": b.domestic_device_hours / total if total else 0.0,
        "domestic_device_hours": b.domestic_device_hours,
        "other_device_hours": b.other_device_hours,
        "revenue_by_supplier_fen": b.revenue_by_supplier,
        "cash_by_org_fen": b.cost_by_org,
    }


def markdown(result: dict[str, Any]) -> str:
    w, v = result["without"], result["with"]
    rows = [
        f"# Voucher what-if: {result['program']}",
        "",
        "| | without | with |",
        "|---|---:|---:|",
        f"| subsidy paid (CNY) | 0.00 | {sum(v['subsidy_by_program_fen'].values()) / 100:,.2f} |",
        f"| budget exhausted at (h) | – | {v['program_exhausted_at_h'] or 'never'} |",
        f"| tenants at cap | – | {sum(len(x) for x in v['orgs_at_cap'].values())} |",
        f"| domestic share of device-hours | {w['domestic_share']:.1%} | "
        f"{v['domestic_share']:.1%} |",
    ]
    for s in sorted(set(w["revenue_by_supplier_fen"]) | set(v["revenue_by_supplier_fen"])):
        a = w["revenue_by_supplier_fen"].get(s, 0) / 100
        b = v["revenue_by_supplier_fen"].get(s, 0) / 100
        rows.append(f"| revenue {s} (CNY) | {a:,.2f} | {b:,.2f} |")
    return "\n".join(rows) + "\n"
