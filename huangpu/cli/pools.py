"""Pool commands: `huangpu pools` (capacity per chip, agents online) and `pools create`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from huangpu.cli.context import client
from huangpu.cli.output import console, fmt_ago, listing, print_json
from huangpu.core.domain import ExecutorKind

app = typer.Typer(help="Pools: one supplier cluster each, served by agents.")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def capacity_text(capacity: dict[str, Any]) -> str:
    if not capacity:
        return "-"
    return ", ".join(
        f"{chip} {c.get('free', 0)}/{c.get('total', 0)}" for chip, c in sorted(capacity.items())
    )


def agents_text(agents: list[dict[str, Any]]) -> Text:
    if not agents:
        return Text("no agent", style="red")
    text = Text()
    for i, agent in enumerate(agents):
        online = bool(agent.get("online"))
        if i:
            text.append("\n")
        text.append("● " if online else "○ ", style="green" if online else "red")
        text.append(str(agent.get("name", agent.get("id"))))
        if not online:  # an online agent polls every few seconds; its age says nothing
            text.append(f" (seen {fmt_ago(agent.get('last_seen'))})", style="dim")
    return text


@app.callback(invoke_without_command=True)
def list_pools(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List pools with capacity per chip and their agents."""
    if ctx.invoked_subcommand is not None:
        return
    with client(ctx) as api:
        pools = api.list_pools()
    if json_out:
        print_json(pools)
        return
    table = listing("NAME", "SUPPLIER", "REGION", "EXECUTOR", "CAPACITY (free/total)", "AGENTS")
    for pool in pools:
        table.add_row(
            pool["name"],
            pool.get("supplier") or pool.get("supplier_id", "-"),
            pool.get("region", "-"),
            pool.get("executor", "-"),
            capacity_text(pool.get("capacity") or {}),
            agents_text(pool.get("agents") or []),
        )
    console.print(
        table if pools else "[dim]no pools; an operator adds one with `huangpu pools create`[/dim]"
    )


@app.command("create")
def create_pool(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="pool name, e.g. telecom-a100")],
    supplier: Annotated[str, typer.Option(help="supplier name or id")],
    region: Annotated[str, typer.Option(help="region, e.g. cn-shanghai")],
    executor: Annotated[ExecutorKind, typer.Option(help="how the agent runs jobs")] = (
        ExecutorKind.LOCAL
    ),
    engine_backlog: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="jobs a Slurm or Ray pool may queue beyond its free devices "
            "(default: its device count; 0 turns the backlog off)",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a pool (operator)."""
    with client(ctx) as api:
        pool = api.create_pool(name, supplier, region, executor.value, engine_backlog)
    if json_out:
        print_json(pool)
    else:
        console.print(
            f"created pool [bold]{pool['name']}[/bold] ({pool['id']}); start its agent "
            f"with `huangpu agent --pool {pool['name']} --token ...`"
        )
