"""Token commands: `huangpu tokens create --role ...` and `tokens list` (operator)."""

from __future__ import annotations

from typing import Annotated

import typer

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.context import client
from huangpu.cli.output import console, err_console, fmt_time, listing, print_json
from huangpu.core.domain import Role

app = typer.Typer(help="Bearer tokens: one role each, bound to an org (tenant) or pool (agent).")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """'3600', '90m', '12h' or '30d' as seconds; exit 2 naming --ttl otherwise."""
    value = text.strip().lower()
    scale = _UNITS.get(value[-1:])
    number = value[:-1] if scale else value
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise CliError(
            f"--ttl: {text!r} is not a duration",
            exit_code=EXIT_BAD_INPUT,
            hint="use seconds or a unit: 3600, 90m, 12h, 30d",
        )
    return seconds


def check_binding(role: Role, org: str | None, pool: str | None) -> None:
    """Catch the obvious mistakes before asking the server."""
    if role is Role.TENANT and not org:
        raise CliError(
            "--org: a tenant token needs an org",
            exit_code=EXIT_BAD_INPUT,
            hint="add --org NAME (see `huangpu orgs`)",
        )
    if role is Role.AGENT and not pool:
        raise CliError(
            "--pool: an agent token needs a pool",
            exit_code=EXIT_BAD_INPUT,
            hint="add --pool NAME (see `huangpu pools`)",
        )


@app.command("create")
def create_token(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option(help="operator, tenant or agent")],
    org: Annotated[str | None, typer.Option(help="org name or id (tenant tokens)")] = None,
    pool: Annotated[str | None, typer.Option(help="pool name or id (agent tokens)")] = None,
    name: Annotated[str | None, typer.Option(help="a label to recognise it by")] = None,
    ttl: Annotated[
        str | None, typer.Option(help="expire after this long: 3600, 90m, 12h, 30d")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token; the secret is printed once, on stdout."""
    check_binding(role, org, pool)
    ttl_seconds = None if ttl is None else parse_ttl(ttl)
    with client(ctx) as api:
        token = api.create_token(role.value, org=org, pool=pool, name=name, ttl_seconds=ttl_seconds)
    if json_out:
        print_json(token)
        return
    typer.echo(token["token"])
    err_console.print(
        f"[dim]token {token['id']} ({token['role']}); store the secret now, it is "
        "not shown again[/dim]"
    )


@app.command("list")
def list_tokens(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List tokens (never their secrets)."""
    with client(ctx) as api:
        tokens = api.list_tokens()
    if json_out:
        print_json(tokens)
        return
    table = listing("ID", "ROLE", "ORG", "POOL", "NAME", "CREATED", "EXPIRES", "REVOKED")
    for t in tokens:
        table.add_row(
            t["id"],
            t.get("role", "-"),
            t.get("org_id") or "-",
            t.get("pool_id") or "-",
            t.get("name") or "-",
            fmt_time(t.get("created_at"), short=True),
            fmt_time(t["expires_at"], short=True) if t.get("expires_at") else "never",
            "yes" if t.get("revoked") else "",
        )
    console.print(table if tokens else "[dim]no tokens[/dim]")
