"""`huangpu demo`: a whole city on this machine, every example job run, a live table, a summary.

It uses `$HUANGPU_HOME/demo` as its home and wipes it first, so every run starts the same.
Each example YAML may carry a label `expect: succeeded|failed|cancelled`; the demo exits 0
only when every job ended as expected.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import huangpu
from huangpu.cli.api_client import EXIT_BAD_INPUT, EXIT_FAILURE, ApiClient, CliError
from huangpu.cli.demo_ledger import wait_for_bill
from huangpu.cli.jobs import load_spec_file
from huangpu.cli.launcher import Platform, free_port
from huangpu.cli.money import bill_table
from huangpu.cli.output import (
    TERMINAL_STATES,
    as_epoch,
    chips_of,
    console,
    fmt_duration,
    state_text,
)
from huangpu.ledger import month_of
from huangpu.settings import Settings

TAIL_LINES = 6
HEAD_LINES = 2


@dataclass
class DemoJob:
    path: Path
    spec: dict[str, Any]
    org: str
    expect: str
    view: dict[str, Any] = field(default_factory=dict)
    log_offset: int = 0
    log_complete: bool = False
    cancel_sent: bool = False
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    partial: str = ""
    # The first lines say where the job was placed (its *_VISIBLE_DEVICES); keep them too.
    head: list[str] = field(default_factory=list)
    lines: int = 0

    @property
    def id(self) -> str:
        return str(self.view.get("id", "?"))

    @property
    def state(self) -> str:
        return str(self.view.get("state", "PENDING"))

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def ok(self) -> bool:
        return self.state.lower() == self.expect

    def runtime(self) -> float | None:
        """From the first RUNNING (or STARTING) move to the end, from the state history."""
        started = ended = None
        for move in self.view.get("history") or []:
            to = move.get("to_state")
            if to in ("STARTING", "RUNNING") and started is None:
                started = as_epoch(move.get("at"))
            if to in TERMINAL_STATES:
                ended = as_epoch(move.get("at"))
        if started is None:
            return None
        return (ended or time.time()) - started

    def due_for_cancel(self) -> bool:
        """Examples labelled `demo-cancel-after: N` are cancelled N seconds into RUNNING."""
        after = (self.spec.get("labels") or {}).get("demo-cancel-after")
        if after is None or self.cancel_sent or self.state != "RUNNING":
            return False
        runtime = self.runtime()
        return runtime is not None and runtime >= float(after)

    def add_log(self, data: str) -> None:
        text = self.partial + data
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in (raw.rstrip("\r") for raw in lines):
            if not line.strip():
                continue
            self.lines += 1
            if len(self.head) < HEAD_LINES:
                self.head.append(line)
            self.tail.append(line)

    def excerpt(self) -> str:
        """The first lines, then the last ones, with a marker where lines were left out."""
        skipped = self.lines - len(self.tail)
        if skipped <= 0:
            return "\n".join(self.tail)
        head = self.head[: max(0, min(HEAD_LINES, skipped))]
        gap = skipped - len(head)
        marker = [f"… {gap} more lines …"] if gap > 0 else []
        return "\n".join([*head, *marker, *self.tail])

    def last_line(self) -> str:
        return self.partial.strip() or (self.tail[-1] if self.tail else "")


def find_examples(explicit: Path | None) -> Path:
    """The examples folder: --examples, else ./examples, else the one next to the package."""
    candidates = (
        [explicit]
        if explicit
        else [
            Path.cwd() / "examples",
            Path(huangpu.__file__).resolve().parent.parent / "examples",
        ]
    )
    for folder in candidates:
        if folder is not None and folder.is_dir() and any(folder.glob("*.yaml")):
            return folder
    raise CliError(
        "no examples/*.yaml found",
        exit_code=EXIT_BAD_INPUT,
        hint="run from the repository root or pass --examples DIR",
    )


def load_jobs(folder: Path, orgs: list[str]) -> list[DemoJob]:
    jobs = []
    for i, path in enumerate(sorted(folder.glob("*.yaml"))):
        spec = load_spec_file(path)  # invalid examples stop the demo before anything starts
        labels = spec.get("labels") or {}
        # Tenants take turns unless the example names its org.
        org = labels.get("org") or orgs[i % len(orgs)]
        jobs.append(DemoJob(path, spec, org, str(labels.get("expect", "succeeded")).lower()))
    return jobs


def render(jobs: list[DemoJob], started: float) -> Table:
    table = Table(
        title=f"huangpu demo · {fmt_duration(time.time() - started)}",
        title_justify="left",
        expand=True,
    )
    for column in ("JOB", "ORG", "POOL", "CHIPS", "STATE", "RUNTIME"):
        table.add_column(column, no_wrap=True)
    # The log line gets what is left, but never so little that it disappears.
    table.add_column("LAST LOG LINE", overflow="ellipsis", no_wrap=True, ratio=1, min_width=24)
    for job in jobs:
        table.add_row(
            job.spec["name"],
            job.org,
            job.view.get("pool") or "-",
            chips_of(job.view or {"spec": job.spec}),
            state_text(job.state),
            fmt_duration(job.runtime()),
            Text(job.last_line()),
        )
    return table


def refresh(api: ApiClient, jobs: list[DemoJob]) -> list[str]:
    """Fetch each unfinished job and its new log; return lines describing state moves."""
    moves = []
    for job in jobs:
        if job.done and job.log_complete:
            continue
        before = job.state
        job.view = api.get_job(job.id)
        chunk = api.job_logs(job.id, job.log_offset)
        job.add_log(chunk.get("data") or "")
        job.log_offset = int(chunk.get("next_offset", job.log_offset))
        job.log_complete = job.done and bool(chunk.get("complete"))
        if job.state != before:
            moves.append(f"{job.spec['name']}: {before} → {job.state}")
    return moves


def summary(jobs: list[DemoJob], wall: float) -> Group:
    per_state = Counter(j.state for j in jobs)
    per_pool = Counter(j.view.get("pool") or "-" for j in jobs)
    table = Table("JOB", "EXPECTED", "GOT", "EXIT", "POOL", "", title="summary")
    for job in jobs:
        table.add_row(
            job.spec["name"],
            job.expect.upper(),
            state_text(job.state),
            "-" if job.view.get("exit_code") is None else str(job.view["exit_code"]),
            job.view.get("pool") or "-",
            "[green]✓[/green]" if job.ok else "[red]✗[/red]",
        )
    states = "  ".join(f"{s} {n}" for s, n in sorted(per_state.items()))
    pools = "  ".join(f"{p} {n}" for p, n in sorted(per_pool.items()))
    return Group(
        table,
        Text(f"per state: {states}"),
        Text(f"per pool:  {pools}"),
        Text(f"wall time: {fmt_duration(wall)}"),
    )


def demo(
    examples: Annotated[Path | None, typer.Option(help="folder of job YAMLs")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for all jobs")] = 300.0,
) -> None:
    """Start a whole city locally, run every example job, show them live, print a summary."""
    settings = Settings()
    home = settings.home / "demo"
    folder = find_examples(examples)
    platform = Platform(
        home=home,
        port=free_port(),
        console=console,
        keep_database_url=False,
        extra_env={"HUANGPU_METERING_INTERVAL_SECONDS": "2"},
    )
    jobs = load_jobs(folder, [o.name for o in platform.plan.orgs])
    if home.exists():
        shutil.rmtree(home)  # a fresh city each run, so the demo is repeatable
    console.rule(f"[bold]huangpu demo[/bold] · home {home}")
    started = time.time()
    try:
        with platform.running():
            for job in jobs:
                with platform.tenant_client(job.org) as tenant:
                    job.view = tenant.submit_job(job.spec, None)
            console.print(f"[green]✓[/green] submitted {len(jobs)} jobs from {folder}")
            try:
                finished = watch(platform, jobs, started, timeout)
            finally:
                cancel_unfinished(platform, jobs)  # agents leave jobs running when stopped
            console.print()
            for job in jobs:
                console.print(
                    Panel(
                        Text(job.excerpt()) if job.lines else "[dim](no output)[/dim]",
                        title=f"{job.spec['name']} · {job.id} · {job.state}",
                        title_align="left",
                        border_style="dim",
                    )
                )
            console.print(summary(jobs, time.time() - started))
            billed = closing_bill(platform, jobs) if finished else None
    except CliError as error:
        error.hint = f"{error.hint or ''} (platform logs: {platform.log_dir})".strip()
        raise
    if not finished:
        raise CliError(
            f"not every job ended within {timeout:.0f}s",
            hint=f"platform logs are in {platform.log_dir}",
        )
    if not all(j.ok for j in jobs):
        console.print(f"[red]some jobs did not end as expected; logs in {platform.log_dir}[/red]")
        raise typer.Exit(EXIT_FAILURE)
    console.print("[bold green]every job ended as expected.[/bold green]")
    assert billed is not None
    console.print(bill_table(billed))
    if billed["subsidy_fen"] <= 0:  # house rule: the demo ends with a voucher on the bill
        raise CliError("the closing bill has no voucher subsidy", hint=f"logs: {platform.log_dir}")


def closing_bill(platform: Platform, jobs: list[DemoJob]) -> dict[str, Any]:
    """The start-up's bill for this month, once the usage of its jobs is metered."""
    org = next(o.name for o in platform.plan.orgs if o.category == "startup")
    ran = {j.id for j in jobs if j.org == org and j.runtime() is not None}
    with platform.operator_client() as api:
        return wait_for_bill(api, org, month_of(time.time()), ran, timeout=30)  # type: ignore[no-any-return]


def cancel_unfinished(platform: Platform, jobs: list[DemoJob]) -> None:
    """On timeout or Ctrl-C, cancel what still runs so no job process outlives the demo."""
    left = [j for j in jobs if j.view.get("id") and not j.done]
    if not left:
        return
    # Best effort: the jobs may end meanwhile, or the server may be what failed.
    with (
        console.status(f"cancelling {len(left)} unfinished jobs…"),
        contextlib.suppress(CliError),
        platform.operator_client() as api,
    ):
        for job in left:
            with contextlib.suppress(CliError):
                api.cancel_job(job.id)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for job in left:
                job.view = api.get_job(job.id)  # so the summary shows how they really ended
            if all(j.done for j in left):
                return
            time.sleep(0.5)


def watch(platform: Platform, jobs: list[DemoJob], started: float, timeout: float) -> bool:
    """Poll until all jobs end or the timeout passes; True when they all ended."""
    deadline = time.monotonic() + timeout
    # Off a terminal (CI, pipes) Live shows nothing until the end, so print each move instead.
    narrate = not console.is_terminal
    with (
        platform.operator_client() as api,
        Live(render(jobs, started), console=console, refresh_per_second=4, transient=False) as live,
    ):
        while True:
            platform.check_children()
            moves = refresh(api, jobs)
            for job in jobs:
                if job.due_for_cancel():
                    job.cancel_sent = True
                    api.cancel_job(job.id)
                    moves.append(f"{job.spec['name']}: cancel requested (demo-cancel-after)")
            for line in moves if narrate else ():
                console.print(f"  {line}")
            live.update(render(jobs, started))
            if all(j.done for j in jobs):
                # One more pass so the last log lines written just before exit are shown.
                refresh(api, jobs)
                live.update(render(jobs, started))
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
