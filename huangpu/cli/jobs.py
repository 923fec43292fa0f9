"""Job commands: submit, jobs, job, logs, cancel."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from huangpu.cli.api_client import EXIT_BAD_INPUT, EXIT_FAILURE, ApiClient, CliError
from huangpu.cli.context import client
from huangpu.cli.output import (
    TERMINAL_STATES,
    as_epoch,
    chips_of,
    console,
    err_console,
    fmt_duration,
    fmt_time,
    listing,
    print_json,
    state_text,
)
from huangpu.core.errors import InvalidInput
from huangpu.core.jobspec import JobSpec, jobspec_json_schema, parse_jobspec_yaml
from huangpu.core.states import JobState

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def load_spec_file(path: Path) -> dict[str, Any]:
    """Validate a job YAML locally and return the wire spec; raise CliError(exit 2) if bad.

    Validating here means a typo never costs a round trip and never reaches the server.
    A relative workdir is resolved against the YAML file's directory, because that is where
    the author meant it; the agent runs on this host (local executor) or a shared filesystem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(
            f"cannot read job spec {path}: {error.strerror or error}",
            exit_code=EXIT_BAD_INPUT,
            hint="pass the path of a job YAML file, e.g. examples/train-tiny.yaml",
        ) from None
    try:
        spec = parse_jobspec_yaml(text)
    except InvalidInput as error:
        raise invalid_input_error(path, error) from None
    return spec_to_wire(spec, path.parent)


def invalid_input_error(path: Path, error: InvalidInput) -> CliError:
    message = error.message
    if error.field and error.field not in message:
        message = f"{error.field}: {message}"
    return CliError(
        f"{path}: {message}",
        exit_code=EXIT_BAD_INPUT,
        hint="fix the field and submit again; `huangpu submit --schema` prints every field",
    )


def spec_to_wire(spec: JobSpec, base_dir: Path) -> dict[str, Any]:
    wire: dict[str, Any] = spec.model_dump(mode="json", exclude_none=True)
    workdir = spec.workdir
    if workdir is not None and not Path(workdir).expanduser().is_absolute():
        wire["workdir"] = str((base_dir / workdir).resolve())
    return wire


def wait_for_end(api: ApiClient, job_id: str, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get_job(job_id)
        if job.get("state") in TERMINAL_STATES:
            return job
        if time.monotonic() > deadline:
            raise CliError(
                f"job {job_id} is still {job.get('state')} after {timeout:.0f}s",
                hint=f"follow it with `huangpu logs -f {job_id}` or `huangpu job {job_id}`",
            )
        time.sleep(interval)


def submit(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="job spec YAML")] = None,
    org: Annotated[str | None, typer.Option(help="org name or id (operators only)")] = None,
    json_out: JsonOpt = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="print the JobSpec JSON Schema and exit")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait until the job ends; exit 1 unless it succeeded")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits")] = 3600.0,
) -> None:
    """Submit a job spec; print its id."""
    if schema:
        print_json(jobspec_json_schema())
        return
    if file is None:
        raise CliError(
            "missing job spec file",
            exit_code=EXIT_BAD_INPUT,
            hint="usage: huangpu submit job.yaml (see examples/)",
        )
    spec = load_spec_file(file)
    with client(ctx) as api:
        job = api.submit_job(spec, org)
        if not wait:
            if json_out:
                print_json(job)
            else:
                typer.echo(job["id"])
                err_console.print(f"[dim]follow it with `huangpu logs -f {job['id']}`[/dim]")
            return
        err_console.print(f"[dim]submitted {job['id']}; waiting…[/dim]")
        job = wait_for_end(api, job["id"], timeout)
    if json_out:
        print_json(job)
    else:
        typer.echo(f"{job['id']} {job['state']}")
    if job["state"] != "SUCCEEDED":
        raise typer.Exit(EXIT_FAILURE)


def _check_state(state: str | None) -> str | None:
    if state is None:
        return None
    upper = state.upper()
    if upper not in JobState.__members__:
        raise CliError(
            f"--state: unknown state {state!r}",
            exit_code=EXIT_BAD_INPUT,
            hint=f"use one of {', '.join(JobState.__members__)}",
        )
    return upper


def list_jobs(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="only jobs in this state")] = None,
    org: Annotated[str | None, typer.Option(help="org name or id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    json_out: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    with client(ctx) as api:
        jobs = api.list_jobs(_check_state(state), org, limit)
    if json_out:
        print_json(jobs)
        return
    table = listing("ID", "NAME", "ORG", "STATE", "POOL", "CHIPS", "TRY", "CREATED")
    for job in jobs:
        table.add_row(
            job["id"],
            job.get("name", "-"),
            job.get("org") or job.get("org_id", "-"),
            state_text(job.get("state")),
            job.get("pool") or "-",
            chips_of(job),
            str(job.get("attempt", 0)),
            fmt_time(job.get("created_at"), short=True),
        )
    console.print(table if jobs else "[dim]no jobs[/dim]")


_WAITING_STATES = {"PENDING", "ADMITTED", "SCHEDULED"}


def why(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="job id")],
    json_out: JsonOpt = False,
) -> None:
    """Say why a job waits (or where it went), in the scheduler's own words."""
    with client(ctx) as api:
        job = api.get_job(job_id)
    reason = job.get("reason")
    if json_out:
        print_json({"id": job["id"], "state": job.get("state"), "reason": reason})
        return
    state = str(job.get("state"))
    if reason:
        console.print(f"{job['id']} is {state}: {reason}", highlight=False)
    elif state in _WAITING_STATES:
        console.print(f"{job['id']} is {state}: the scheduler has not looked at it yet")
    else:
        where = f" on pool {job['pool']}" if job.get("pool") else ""
        console.print(f"{job['id']} is {state}{where}; it is not waiting", highlight=False)


def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="job id (or `why ID`)")],
    target: Annotated[str | None, typer.Argument(help="with `why`: the job id")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one job with its state history; `huangpu job why ID` says why it waits."""
    if job_id == "why":
        if target is None:
            raise CliError("missing job id", exit_code=EXIT_BAD_INPUT, hint="huangpu job why ID")
        why(ctx, target, json_out)
        return
    with client(ctx) as api:
        job = api.get_job(job_id)
    if json_out:
        print_json(job)
        return
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    spec = job.get("spec") or {}
    rows: list[tuple[str, Any]] = [
        ("id", job["id"]),
        ("name", job.get("name")),
        ("kind", job.get("kind")),
        ("org", job.get("org") or job.get("org_id")),
        ("state", state_text(job.get("state"))),
        ("pool", job.get("pool") or "-"),
        ("chips", chips_of(job)),
        ("attempt", job.get("attempt")),
        ("exit code", job.get("exit_code")),
        ("reason", job.get("reason")),
        ("command", spec.get("command")),
        ("created", fmt_time(job.get("created_at"))),
        ("updated", fmt_time(job.get("updated_at"))),
    ]
    for key, value in rows:
        info.add_row(
            key, value if isinstance(value, Text) else str(value if value is not None else "-")
        )
    console.print(info)
    history = job.get("history") or []
    if history:
        table = listing("AT", "FROM", "TO", "AFTER", "REASON", title="state history")
        previous: float | None = None
        for move in history:
            at = as_epoch(move.get("at"))
            after = fmt_duration(at - previous) if at is not None and previous is not None else ""
            previous = at if at is not None else previous
            table.add_row(
                fmt_time(move.get("at")),
                state_text(move.get("from_state")),
                state_text(move.get("to_state")),
                after,
                move.get("reason") or "",
            )
        console.print(table)


def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="job id")],
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="keep printing until it ends")
    ] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls with -f")] = 1.0,
) -> None:
    """Print a job's log (stdout and stderr together)."""
    offset = 0
    with client(ctx) as api:
        while True:
            chunk = api.job_logs(job_id, offset)
            data = chunk.get("data") or ""
            if data:
                # Raw write, not Rich: logs may contain [brackets] Rich would eat as markup.
                sys.stdout.write(data)
                sys.stdout.flush()
            next_offset = int(chunk.get("next_offset", offset + len(data)))
            progressed = next_offset > offset
            offset = next_offset
            if progressed:
                continue  # more may be buffered on the server; read it before waiting
            if not follow or chunk.get("complete"):
                return
            time.sleep(interval)


def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="job id")],
    json_out: JsonOpt = False,
) -> None:
    """Cancel a job (its process is stopped by the agent)."""
    with client(ctx) as api:
        job = api.cancel_job(job_id)
    if json_out:
        print_json(job)
    else:
        console.print(f"{job['id']} ", state_text(job.get("state")))


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("jobs")(list_jobs)
    app.command("job")(show_job)
    app.command("why")(why)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
