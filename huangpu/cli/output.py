"""Shared output helpers: consoles, JSON, state colours, times. Commands stay about their noun."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from huangpu.cli.api_client import CliError

console = Console()
# Errors go to stderr so `--json` output on stdout stays parseable.
err_console = Console(stderr=True)

STATE_STYLES = {
    "PENDING": "yellow",
    "ADMITTED": "yellow",
    "SCHEDULED": "cyan",
    "STARTING": "cyan",
    "RUNNING": "bold blue",
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "LOST": "magenta",
    "PREEMPTED": "magenta",
    "CANCELLED": "dim",
    "REJECTED": "red",
}
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "REJECTED"})


# Columns that must stay whole (ids are copied into the next command); others may shrink.
NO_WRAP = frozenset({"ID", "STATE", "CREATED", "AT", "TRY", "ROLE"})


def listing(*columns: str, title: str | None = None) -> Table:
    """A table in the one style every listing uses: light borders, ids never wrapped."""
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False
    )
    for column in columns:
        table.add_column(column, no_wrap=column in NO_WRAP)
    return table


def print_json(data: Any) -> None:
    # Plain echo, not Rich: Rich would wrap long lines and break parsers.
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_error(error: CliError) -> None:
    err_console.print(Text(f"error: {error.message}", style="bold red"), soft_wrap=True)
    if error.hint:
        err_console.print(Text(f"  → {error.hint}", style="yellow"), soft_wrap=True)


def state_text(state: str | None) -> Text:
    state = state or "-"
    return Text(state, style=STATE_STYLES.get(state, ""))


def as_epoch(value: Any) -> float | None:
    """API times may be epoch seconds or ISO 8601 strings; accept both."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def fmt_time(value: Any, short: bool = False) -> str:
    epoch = as_epoch(value)
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).strftime("%m-%d %H:%M:%S" if short else "%F %T")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_ago(value: Any) -> str:
    epoch = as_epoch(value)
    return "never" if epoch is None else f"{fmt_duration(time.time() - epoch)} ago"


def chips_of(job: dict[str, Any]) -> str:
    """'2x8 any' from the spec, or the placed chip models once devices are assigned."""
    devices = job.get("devices") or []
    if devices:
        models = sorted({str(d.get("chip", "?")) for d in devices})
        return f"{len(devices)}× {','.join(models)}"
    res = (job.get("spec") or {}).get("resources") or {}
    per_node, nodes = res.get("accelerators", 1), res.get("nodes", 1)
    count = f"{nodes}x{per_node}" if nodes and nodes > 1 else str(per_node)
    return f"{count}× {','.join(res.get('chips', ['any']))}"
