"""Supplier commands: `huangpu suppliers` and `suppliers create NAME` (operator)."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.context import client
from huangpu.cli.output import console, listing, print_json

app = typer.Typer(help="Suppliers: the companies whose clusters form pools.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.callback(invoke_without_command=True)
def list_suppliers(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List suppliers."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        suppliers = api.list_suppliers()
    if json_out:
        print_json(suppliers)
        return
    table = listing("ID", "NAME")
    for supplier in suppliers:
        table.add_row(supplier["id"], supplier["name"])
    console.print(table if suppliers else "[dim]no suppliers[/dim]")


@app.command("create")
def create_supplier(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="supplier name, e.g. sh-telecom")],
    json_out: JsonOpt = False,
) -> None:
    """Create a supplier (operator)."""
    with client(ctx) as api:
        supplier = api.create_supplier(name)
    if json_out:
        print_json(supplier)
    else:
        console.print(f"created supplier [bold]{supplier['name']}[/bold] ({supplier['id']})")
