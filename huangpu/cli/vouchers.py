"""Voucher commands: `huangpu vouchers` (programs, budget left, top tenants), `vouchers create`
and `vouchers grant` (operator)."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.context import client
from huangpu.cli.money import bp, cny, fen
from huangpu.cli.output import console, fmt_time, listing, print_json

app = typer.Typer(help="Compute voucher programs (算力券): subsidies applied at billing.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.callback(invoke_without_command=True)
def list_programs(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List programs with their budget left and top tenants."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        rows = api.get("/v1/vouchers/programs")
    if json_out:
        print_json(rows)
        return
    table = listing(
        "ID", "NAME", "RATE dom/other", "STACK", "BUDGET", "LEFT", "GRANTS", "TOP TENANTS"
    )
    for p in rows:
        tops = "\n".join(f"{t['org']} {cny(t['spent_fen'])}" for t in p["top_tenants"]) or "-"
        stack = f"{p['stack_group']} ≤{p['stack_ceiling_bp'] / 100:g}%" if p["stack_group"] else "-"
        table.add_row(
            p["id"],
            p["name"],
            f"{p['rate_bp_domestic'] / 100:g}% / {p['rate_bp_other'] / 100:g}%",
            stack,
            cny(p["budget_fen"]),
            cny(p["left_fen"]),
            str(p["grants"]),
            tops,
        )
    console.print(table if rows else "[dim]no programs; create one with `vouchers create`[/dim]")


@app.command("create")
def create(
    ctx: typer.Context,
    program_id: Annotated[str, typer.Argument(help="program id, e.g. sh-city-2026")],
    name: Annotated[str, typer.Option(help="display name")],
    funder: Annotated[str, typer.Option(help="who funds it, e.g. shanghai or xuhui")],
    budget: Annotated[str, typer.Option(help="program budget in CNY")],
    tenant_cap: Annotated[str, typer.Option(help="cap per tenant in CNY")],
    domestic: Annotated[str, typer.Option(help="subsidy % on domestic chips")] = "30",
    other: Annotated[str, typer.Option(help="subsidy % on other chips")] = "20",
    kind: Annotated[str, typer.Option(help="compute or model (serve jobs)")] = "compute",
    stack_group: Annotated[
        str | None, typer.Option(help="programs that stack, e.g. shanghai")
    ] = None,
    ceiling: Annotated[str, typer.Option(help="combined % ceiling of the stack")] = "100",
    category: Annotated[
        list[str] | None, typer.Option(help="eligible org category (repeat)")
    ] = None,
    valid_months: Annotated[int, typer.Option(help="a grant's validity")] = 12,
    json_out: JsonOpt = False,
) -> None:
    """Create a program; its budget is funded from the funder's account at once."""
    body = {
        "id": program_id,
        "name": name,
        "funder": funder,
        "kind": kind,
        "rate_bp_domestic": bp(domestic, "--domestic"),
        "rate_bp_other": bp(other, "--other"),
        "program_budget_fen": fen(budget, "--budget"),
        "per_tenant_cap_fen": fen(tenant_cap, "--tenant-cap"),
        "stack_group": stack_group,
        "stack_ceiling_bp": bp(ceiling, "--ceiling"),
        "eligible_categories": category or None,
        "valid_months": valid_months,
    }
    with client(ctx) as api:
        data = api.post("/v1/vouchers/programs", body)
    if json_out:
        print_json(data)
    else:
        console.print(
            f"created program [bold]{data['id']}[/bold], budget {cny(data['budget_fen'])}"
            f"; grant it with `huangpu vouchers grant {data['id']} --org ORG`"
        )


@app.command("grant")
def grant(
    ctx: typer.Context,
    program_id: Annotated[str, typer.Argument(help="program id")],
    org: Annotated[str, typer.Option(help="org name or id")],
    granted_at: Annotated[
        str | None, typer.Option("--from", help="grant date; default now")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Grant a program to an org (valid for the program's months from the grant)."""
    body = {"program": program_id, "org": org, "granted_at": granted_at}
    with client(ctx) as api:
        data = api.post("/v1/vouchers/grants", {k: v for k, v in body.items() if v is not None})
    if json_out:
        print_json(data)
    else:
        console.print(
            f"granted {data['program_id']} to {data['org']} until {fmt_time(data['expires_at'])}"
        )
