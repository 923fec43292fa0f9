"""Org commands: `huangpu orgs` and `orgs create NAME --category ...` (operator)."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.context import client
from huangpu.cli.output import console, listing, print_json
from huangpu.core.domain import OrgCategory

app = typer.Typer(help="Orgs: tenants (start-ups, labs, companies) that submit jobs.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.callback(invoke_without_command=True)
def list_orgs(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List tenant orgs (operator)."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        orgs = api.list_orgs()
    if json_out:
        print_json(orgs)
        return
    table = listing("ID", "NAME", "CATEGORY")
    for org in orgs:
        table.add_row(org["id"], org["name"], org.get("category", "-"))
    console.print(table if orgs else "[dim]no orgs; create one with `huangpu orgs create`[/dim]")


@app.command("create")
def create_org(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="org name, e.g. deepblue-ai")],
    category: Annotated[OrgCategory, typer.Option(help="kind of tenant")] = OrgCategory.COMPANY,
    json_out: JsonOpt = False,
) -> None:
    """Create a tenant org (operator)."""
    with client(ctx) as api:
        org = api.create_org(name, category.value)
    if json_out:
        print_json(org)
    else:
        console.print(
            f"created org [bold]{org['name']}[/bold] ({org['id']}); give it a token "
            f"with `huangpu tokens create --role tenant --org {org['name']}`"
        )
