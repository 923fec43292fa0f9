"""Quota commands (operator): `huangpu quotas` and `quotas set ORG --family ... --nominal ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.context import client
from huangpu.cli.output import console, listing, print_json

app = typer.Typer(
    help="Quotas per org and chip family, in compute units (one A100 = 1), with cohorts that "
    "borrow and lend idle quota (Kueue's semantics)."
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _limit(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g}"


@app.callback(invoke_without_command=True)
def list_quotas(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List every quota (operator)."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        rows = api.get("/v1/quotas")
    if json_out:
        print_json(rows)
        return
    table = listing("ORG", "FAMILY", "NOMINAL", "BORROW", "LEND", "COHORT")
    for q in rows:
        table.add_row(
            q["org"],
            q["family"],
            f"{q['nominal']:g}",
            _limit(q["borrow_limit"]),
            _limit(q["lend_limit"]),
            q["cohort"] or "-",
        )
    console.print(
        table
        if rows
        else "[dim]no quotas: every org is unlimited; set one with "
        "`huangpu quotas set ORG --family ascend --nominal 100`[/dim]"
    )


def _check(value: float | None, option: str) -> None:
    if value is not None and not value >= 0:
        raise CliError(
            f"{option} must be a number ≥ 0 (compute units), got {value:g}",
            exit_code=EXIT_BAD_INPUT,
            hint="one A100 is 1 compute unit; e.g. --nominal 100",
        )


@app.command("set")
def set_quota(
    ctx: typer.Context,
    org: Annotated[str, typer.Argument(help="org name or id")],
    family: Annotated[str, typer.Option(help="chip family, e.g. nvidia, ascend, cambricon")],
    nominal: Annotated[float, typer.Option(help="guaranteed compute units (one A100 = 1)")],
    borrow: Annotated[
        float | None, typer.Option(help="most it may borrow from its cohort (default: no limit)")
    ] = None,
    lend: Annotated[
        float | None, typer.Option(help="most of its idle quota it lends (default: all)")
    ] = None,
    cohort: Annotated[
        str | None, typer.Option(help="cohort that shares idle quota; '' leaves it")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Set an org's quota for one chip family (operator)."""
    for value, option in ((nominal, "--nominal"), (borrow, "--borrow"), (lend, "--lend")):
        _check(value, option)
    body: dict[str, Any] = {"org": org, "family": family, "nominal": nominal}
    body |= {"borrow_limit": borrow, "lend_limit": lend, "cohort": cohort}
    with client(ctx) as api:
        q = api.post("/v1/quotas", body)
    if json_out:
        print_json(q)
        return
    where = f" in cohort {q['cohort']}" if q["cohort"] else " (no cohort: never borrows)"
    console.print(
        f"{q['org']} may use {q['nominal']:g} compute units of {q['family']} chips{where}; "
        f"borrow {_limit(q['borrow_limit'])}, lend {_limit(q['lend_limit'])}"
    )
