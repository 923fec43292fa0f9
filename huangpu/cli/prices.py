"""Price commands: `huangpu prices`, `prices set`, `prices fee` (operator)."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.context import client
from huangpu.cli.money import bp, cny, fen
from huangpu.cli.output import console, fmt_time, listing, print_json

app = typer.Typer(help="Prices per pool and chip (CNY per card-hour), and the platform fee.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="effective from (2026-12-01 or epoch); default now")
]


@app.callback(invoke_without_command=True)
def list_prices(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List every price, past and future (prices are append-only)."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        rows = api.get("/v1/prices")
    if json_out:
        print_json(rows)
        return
    table = listing("POOL", "CHIP", "PER CARD-HOUR", "FROM", "SET BY")
    for r in rows:
        table.add_row(
            r["pool"], r["chip"], cny(r["fen_per_hour"]), fmt_time(r["effective_from"]), r["set_by"]
        )
    console.print(table if rows else "[dim]no prices; set one with `huangpu prices set`[/dim]")


def _when(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


@app.command("set")
def set_price(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option(help="pool name or id")],
    chip: Annotated[str, typer.Option(help="chip, e.g. 910B or A100")],
    price: Annotated[str, typer.Option(help="CNY per card-hour, e.g. 3.00")],
    effective_from: FromOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a pool's price for a chip from a date on (never before the latest one)."""
    body = {
        "pool": pool,
        "chip": chip,
        "fen_per_hour": fen(price, "--price"),
        "effective_from": _when(effective_from),
    }
    with client(ctx) as api:
        row = api.post("/v1/prices", {k: v for k, v in body.items() if v is not None})
    if json_out:
        print_json(row)
    else:
        console.print(
            f"{row['pool']} {row['chip']}: {cny(row['fen_per_hour'])} per card-hour "
            f"from {fmt_time(row['effective_from'])}"
        )


@app.command("fee")
def set_fee(
    ctx: typer.Context,
    percent: Annotated[str | None, typer.Option(help="platform fee in %, e.g. 2.5")] = None,
    effective_from: FromOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the platform fee, or change it with --percent."""
    with client(ctx) as api:
        if percent is None:
            data = api.get("/v1/platform-fee")
        else:
            body = {"fee_bp": bp(percent, "--percent"), "effective_from": _when(effective_from)}
            data = api.post("/v1/platform-fee", {k: v for k, v in body.items() if v is not None})
    if json_out:
        print_json(data)
    else:
        console.print(f"platform fee now {data['fee_bp'] / 100:g}% of the gross")
