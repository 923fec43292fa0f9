"""A self-contained Markdown report of one or more runs: tables of the metrics, plots beside
it as PNG files, and ``metrics.json`` with every number (what determinism tests compare)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huangpu.sim import plots
from huangpu.sim.billing import bill
from huangpu.sim.engine import SimResult
from huangpu.sim.metrics import org_shares, summarise

ROWS = (
    ("jct_avg_h", "avg JCT (h)"),
    ("jct_p50_h", "p50 JCT (h)"),
    ("jct_p99_h", "p99 JCT (h)"),
    ("queueing_avg_h", "avg queueing (h)"),
    ("queueing_p99_h", "p99 queueing (h)"),
    ("makespan_h", "makespan (h)"),
    ("allocation_rate_avg", "allocation rate (avg)"),
    ("ftf_rho_avg", "FTF ρ (avg)"),
    ("ftf_rho_max", "FTF ρ (max)"),
    ("jain_share_over_entitlement", "Jain (share/entitlement)"),
    ("preemptions", "preemptions"),
    ("migrations", "migrations"),
    ("jobs_arrived", "jobs arrived"),
    ("jobs_finished_measured", "jobs measured, finished"),
    ("events", "events"),
)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fen(v: int) -> str:
    return f"{v / 100:,.2f}"


def write(results: Sequence[SimResult], out: Path, title: str = "huangpu sim") -> dict[str, Any]:
    """Write report.md, metrics.json and the plots into ``out``; return the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    metrics = [summarise(r, bill(r)) for r in results]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    plots.jct_cdf(results, out / "jct_cdf.png")
    for r in results:
        plots.utilisation(r, out / f"utilisation_{r.policy}.png")
    if len(results) > 1:
        plots.bars(
            {m["policy"]: m["jct_avg_h"] for m in metrics}, "avg JCT (h)", out / "compare_jct.png"
        )
    lines = [f"# {title}", "", f"Trace: `{results[0].trace}`", ""]
    lines += [
        "| metric | " + " | ".join(m["policy"] for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(_fmt(m.get(key, "")) for m in metrics) + " |")
    lines += [
        "",
        "## Utilisation per chip model",
        "",
        "| chip | " + " | ".join(m["policy"] for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for chip in results[0].world.chips:
        lines.append(
            f"| {chip} | " + " | ".join(f"{m['utilisation'][chip]:.1%}" for m in metrics) + " |"
        )
    for m in metrics:
        if "cost_by_org_fen" not in m:
            continue
        lines += ["", f"## Money under `{m['policy']}` (CNY, through the ledger)", ""]
        lines += ["| supplier | revenue |", "|---|---|"]
        lines += [f"| {k} | {_fen(v)} |" for k, v in m["revenue_by_supplier_fen"].items()]
        lines += ["", "| program | subsidy paid | orgs at cap |", "|---|---|---|"]
        lines += [
            f"| {k} | {_fen(v)} | {len(m['orgs_at_cap'].get(k, []))} |"
            for k, v in m["subsidy_by_program_fen"].items()
        ]
        top = sorted(m["cost_by_org_fen"].items(), key=lambda kv: -kv[1])[:10]
        lines += ["", "| org (top 10 by cash) | cash paid |", "|---|---|"]
        lines += [f"| {k} | {_fen(v)} |" for k, v in top]
    for r in results:
        shares = org_shares(r)
        top = sorted(shares.items(), key=lambda kv: -kv[1]["share"])[:10]
        lines += [
            "",
            f"## Share vs entitlement under `{r.policy}` (top 10 of {len(shares)} orgs)",
            "",
            "| org | share | entitlement | ratio |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {o} | {v['share']:.2%} | {v['entitlement']:.2%} | {v['ratio']:.2f} |"
            for o, v in top
        ]
    lines += ["", "![JCT CDF](jct_cdf.png)", ""]
    lines += [f"![utilisation {r.policy}](utilisation_{r.policy}.png)" for r in results]
    if len(results) > 1:
        lines += ["", "![comparison](compare_jct.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return {"runs": metrics}
