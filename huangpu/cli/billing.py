"""Money commands: `huangpu bill`, `huangpu settle`, `huangpu topup`, `huangpu credit`."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.context import client
from huangpu.cli.money import bill_csv, bill_table, cny, fen, settlement_csv, settlement_table
from huangpu.cli.output import console, print_json

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="print CSV")]


def _one_format(json_out: bool, csv_out: bool) -> None:
    if json_out and csv_out:
        raise CliError("choose one of --json and --csv", exit_code=EXIT_BAD_INPUT)


def bill(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="billing month in Beijing time, e.g. 2026-11")],
    org: Annotated[str | None, typer.Option(help="org name or id (tenants: their own)")] = None,
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """An org's bill for a month: per job, chip and supplier, subsidy and cash apart."""
    _one_format(json_out, csv_out)
    with client(ctx) as api:
        data = api.get(f"/v1/bills/{month}", org=org)
    if json_out:
        print_json(data)
    elif csv_out:
        typer.echo(bill_csv(data), nl=False)
    elif not data["lines"]:
        console.print(f"[dim]no usage billed to {data['org']} in {data['month']}[/dim]")
    else:
        console.print(bill_table(data))


def settle(
    ctx: typer.Context,
    quarter: Annotated[str, typer.Option(help="quarter, e.g. 2026Q4")],
    json_out: JsonOpt = False,
    csv_out: CsvOpt = False,
) -> None:
    """What the platform owes each supplier for a quarter, split by who pays (operator)."""
    _one_format(json_out, csv_out)
    with client(ctx) as api:
        data = api.get(f"/v1/settlements/{quarter}")
    if json_out:
        print_json(data)
    elif csv_out:
        typer.echo(settlement_csv(data), nl=False)
    else:
        console.print(settlement_table(data))


def topup(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="org name or id")],
    amount: Annotated[str, typer.Option(help="CNY, e.g. 1000 or 1000.00")],
    key: Annotated[
        str | None, typer.Option(help="idempotency key, e.g. the bank transfer id")
    ] = None,
    note: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Add prepaid cash to an org (operator; audited, idempotent with --key)."""
    body = {"amount_fen": fen(amount, "--amount"), "note": note, "idempotency_key": key}
    with client(ctx) as api:
        data = api.post(f"/v1/orgs/{org}/topups", {k: v for k, v in body.items() if v is not None})
    if json_out:
        print_json(data)
        return
    done = "topped up" if data["posted"] else "already topped up (same --key)"
    console.print(f"{data['org']} {done}; prepaid balance {cny(data['balance_fen'])}")


def credit(
    ctx: typer.Context,
    org: Annotated[str, typer.Option(help="org name or id")],
    limit: Annotated[str, typer.Option(help="credit line in CNY (0 removes it)")],
    note: Annotated[str, typer.Option(help="why, for the audit trail")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Set an org's credit line (operator; audited)."""
    with client(ctx) as api:
        data = api.post(
            f"/v1/orgs/{org}/credit-line", {"limit_fen": fen(limit, "--limit"), "note": note}
        )
    if json_out:
        print_json(data)
        return
    console.print(
        f"{data['org']}: credit line {cny(data['credit_limit_fen'])}, "
        f"available {cny(data['available_fen'])}"
    )


def register(app: typer.Typer) -> None:
    for command in (bill, settle, topup, credit):
        app.command()(command)
