"""Budget commands: `huangpu budgets show` and `budgets set` (tenants for their own org)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from huangpu.cli.context import client
from huangpu.cli.money import cny, fen
from huangpu.cli.output import console, fmt_time, print_json

app = typer.Typer(help="Monthly budgets per org: alerts at 50/80/100 %, hard stop at 100 %.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
OrgOpt = Annotated[str | None, typer.Option(help="org name or id (tenants: their own)")]


def _show(data: dict[str, Any]) -> None:
    if data["monthly_fen"] is None:
        console.print(f"{data['org']}: no budget; set one with `huangpu budgets set --monthly`")
        return
    pct = 100 * data["spent_fen"] / data["monthly_fen"]
    stop = "hard stop" if data["hard_stop"] else "alerts only"
    console.print(
        f"{data['org']} {data['month']}: {cny(data['spent_fen'])} of "
        f"{cny(data['monthly_fen'])} ({pct:.0f}%, {stop})"
    )
    for alert in data["alerts"]:
        console.print(
            f"  [yellow]alert {alert['threshold_pct']}%[/yellow] {alert['month']} at "
            f"{cny(alert['spent_fen'])} ({fmt_time(alert['fired_at'])})"
        )


@app.command("show")
def show(ctx: typer.Context, org: OrgOpt = None, json_out: JsonOpt = False) -> None:
    """The month's spend against the budget, and the alerts fired."""
    with client(ctx) as api:
        data = api.get("/v1/budgets", org=org)
    print_json(data) if json_out else _show(data)


@app.command("set")
def set_budget(
    ctx: typer.Context,
    monthly: Annotated[str, typer.Option(help="monthly budget in CNY, e.g. 500")],
    org: OrgOpt = None,
    hard_stop: Annotated[bool, typer.Option(help="stop admitting jobs at 100 %")] = True,
    json_out: JsonOpt = False,
) -> None:
    """Set the org's monthly budget (cash spent on usage)."""
    body = {"monthly_fen": fen(monthly, "--monthly"), "hard_stop": hard_stop, "org": org}
    with client(ctx) as api:
        data = api.post("/v1/budgets", {k: v for k, v in body.items() if v is not None})
    print_json(data) if json_out else _show(data)
