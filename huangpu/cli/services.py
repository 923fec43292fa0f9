"""Service commands: `server`, `scheduler`, `agent` (one part each) and `up` (all of them).

The service entry points are imported inside the commands: `huangpu jobs` should not pay for
importing FastAPI, SQLAlchemy and the agent's executors.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.context import options
from huangpu.cli.launcher import Platform, free_port, port_is_free
from huangpu.cli.output import console, print_json
from huangpu.settings import Settings


def setup_logging() -> None:
    """Services log to stderr; the launcher sends that to <home>/logs/<part>.log."""
    from huangpu import logfmt

    try:
        log_format = Settings().log_format
    except ValueError:  # a bad setting is reported by the command itself, in its own words
        log_format = "text"
    logfmt.configure(log_format, os.environ.get("HUANGPU_LOG_LEVEL", "INFO"))
    # One INFO line per HTTP request (every long-poll) would drown what matters.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGINT/SIGTERM, so a loop can finish its cycle and exit cleanly."""
    event = threading.Event()

    def _set(_signum: int, _frame: Any) -> None:
        event.set()

    signal.signal(signal.SIGINT, _set)
    signal.signal(signal.SIGTERM, _set)
    return event


def server(
    host: Annotated[str | None, typer.Option(help="bind address (default: settings host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings port)")] = None,
) -> None:
    """Run the API server (creates the database and the operator token on first start)."""
    setup_logging()
    from huangpu.api.server import serve

    overrides: dict[str, Any] = {
        k: v for k, v in {"host": host, "port": port}.items() if v is not None
    }
    serve(Settings(**overrides))


def scheduler(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve the scheduler's Prometheus metrics on 127.0.0.1:PORT"),
    ] = None,
) -> None:
    """Run the scheduler loop and the lease reaper against the configured database.

    Several may run against one database: one leads, the others stand by (docs/deploy.md)."""
    setup_logging()
    from huangpu.control.loop import run_scheduler

    overrides: dict[str, Any] = {}
    if metrics_port is not None:
        overrides["scheduler_metrics_port"] = metrics_port
    run_scheduler(Settings(**overrides), stop_event=stop_event_on_signals())


def agent(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option(help="the pool this agent serves")],
    token: Annotated[
        str | None, typer.Option(envvar="HUANGPU_TOKEN", help="agent token bound to the pool")
    ] = None,
    server_url: Annotated[
        str | None, typer.Option("--server", help="server URL (default: global --server)")
    ] = None,
    inventory: Annotated[
        str | None,
        typer.Option(help="declared devices, e.g. 8xA100 or 2x8x910B (default: discover)"),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="where it remembers running jobs (default: $HUANGPU_HOME/agents/POOL)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="agent name (default: host name)")] = None,
    usage_interval: Annotated[float, typer.Option(help="seconds between usage samples")] = 5.0,
    executor: Annotated[
        str, typer.Option(help="where jobs run: local, slurm, ray or kubernetes")
    ] = "local",
    slurm_rest_url: Annotated[
        str | None,
        typer.Option(help="slurmrestd URL, e.g. http://127.0.0.1:6820 (default: Slurm CLI)"),
    ] = None,
    slurm_api_version: Annotated[str, typer.Option(help="slurmrestd API version")] = "v0.0.38",
    slurm_partition: Annotated[str | None, typer.Option(help="Slurm partition")] = None,
    gres_map: Annotated[
        str, typer.Option(help="Slurm GRES name to chip, e.g. gpu=a100,npu=910b")
    ] = "gpu=a100",
    ray_address: Annotated[
        str, typer.Option(help="Ray Jobs API (dashboard) address")
    ] = "http://127.0.0.1:8265",
    ray_resources: Annotated[
        str, typer.Option(help="Ray resource to chip, e.g. GPU=a100,npu=910b")
    ] = "GPU=a100,npu=910b",
    k8s_namespace: Annotated[str, typer.Option(help="Kubernetes namespace")] = "default",
    k8s_image: Annotated[
        str, typer.Option(help="container image for jobs that name none")
    ] = "python:3.11-slim",
) -> None:
    """Run a pool agent: register, long-poll for leases, run jobs on the chosen executor."""
    if executor not in ("local", "slurm", "ray", "kubernetes"):
        raise CliError(
            f"--executor: unknown executor {executor!r}",
            exit_code=EXIT_BAD_INPUT,
            hint="choose one of local, slurm, ray, kubernetes",
        )
    per_executor: dict[str, dict[str, Any]] = {
        "slurm": {
            "rest_url": slurm_rest_url,
            "api_version": slurm_api_version,
            "partition": slurm_partition,
            "gres_map": gres_map,
        },
        "ray": {"address": ray_address, "resource_map": ray_resources},
        "kubernetes": {"namespace": k8s_namespace, "image": k8s_image},
    }
    executor_options = per_executor.get(executor, {})
    if not token:
        raise CliError(
            "--token: an agent needs a token",
            exit_code=EXIT_BAD_INPUT,
            hint=f"an operator creates one with `huangpu tokens create --role agent --pool {pool}`",
        )
    # Jobs inherit the agent's environment: a tenant's job must not be able to read the
    # agent's token from it.
    os.environ.pop("HUANGPU_TOKEN", None)
    setup_logging()
    from huangpu.agent.runner import run_agent

    run_agent(
        server_url=server_url or options(ctx).server_url(),
        token=token,
        pool=pool,
        inventory=inventory,
        state_dir=state_dir or Settings().home / "agents" / pool,
        name=name,
        stop_event=stop_event_on_signals(),
        usage_interval=usage_interval,
        executor=executor,
        executor_options=executor_options,
    )


def up(
    port: Annotated[
        int | None, typer.Option(help="API port (default: settings port, or a free one)")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print where things are as JSON")
    ] = False,
) -> None:
    """Start server, scheduler and two demo suppliers' agents; run until Ctrl-C."""
    settings = Settings()
    if port is None:
        port = settings.port if port_is_free(settings.port) else free_port()
    elif port == 0:
        port = free_port()  # the children must agree on one port, so pick it here
    platform = Platform(home=settings.home, port=port, console=console)
    try:
        with platform.running():
            info = platform.describe()
            if json_out:
                print_json(info)
            else:
                tenants = "".join(
                    f"\n  {org:<14} {path}" for org, path in info["tenant_token_files"].items()
                )
                console.print(
                    Panel.fit(
                        f"[bold]huangpu is up[/bold]\n"
                        f"API        {info['url']}   (docs: {info['docs']})\n"
                        f"operator   {info['operator_token_file']}\n"
                        f"tenant tokens (HUANGPU_TOKEN=$(cat FILE)):{tenants}\n"
                        f"logs       {info['logs']}\n\n"
                        f"try `huangpu --server {info['url']} pools`; Ctrl-C stops everything",
                        border_style="green",
                    )
                )
            while True:
                platform.check_children()
                time.sleep(1.0)
    except KeyboardInterrupt:
        console.print("stopped.")


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("scheduler")(scheduler)
    app.command("agent")(agent)
    app.command("up")(up)
