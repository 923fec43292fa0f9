"""The platform launcher behind `huangpu up` and `huangpu demo`.

It starts real child processes, exactly as an operator would by hand:

    python -m huangpu server       ─┐ HUANGPU_HOME, HUANGPU_PORT set; logs in <home>/logs/
    python -m huangpu scheduler     │
    python -m huangpu agent ... ×2 ─┘ started after the pools and their tokens exist

and sets the city up through the HTTP API only (idempotently: names that exist are reused).
Children get their own session so that Ctrl-C reaches only us and we stop them in order, by
PID: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.console import Console

from huangpu.cli.api_client import ApiClient, CliError, ServerUnreachable
from huangpu.cli.context import read_token_file
from huangpu.cli.demo_ledger import setup_ledger

STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class OrgPlan:
    name: str
    category: str


@dataclass(frozen=True)
class PoolPlan:
    name: str
    supplier: str
    region: str
    inventory: str


@dataclass(frozen=True)
class CityPlan:
    orgs: tuple[OrgPlan, ...]
    pools: tuple[PoolPlan, ...]

    @property
    def suppliers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.supplier for p in self.pools))


# Two tenants and two suppliers' pools: 8×A100 at a telecom cloud, 16×910B at a domestic centre.
DEFAULT_CITY = CityPlan(
    orgs=(OrgPlan("deepblue-ai", "startup"), OrgPlan("fudan-nlp-lab", "lab")),
    pools=(
        PoolPlan("telecom-a100", "sh-telecom", "cn-shanghai", "8xA100"),
        PoolPlan("lingang-910b", "lingang-ascend", "cn-shanghai", "2x8x910B"),
    ),
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def alive(self) -> bool:
        return self.process.poll() is None


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@dataclass
class Platform:
    """A running city: server, scheduler and one agent per pool, all child processes."""

    home: Path
    port: int
    console: Console
    plan: CityPlan = DEFAULT_CITY
    keep_database_url: bool = True
    host: str = "127.0.0.1"
    children: list[Child] = field(default_factory=list)
    tenant_tokens: dict[str, str] = field(default_factory=dict)
    operator_token: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # for every child, e.g. settings

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def token_file(self) -> Path:
        return self.home / "operator.token"

    # ---- processes -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("HUANGPU_TOKEN", "HUANGPU_SERVER_URL", "HUANGPU_HOST", "HUANGPU_PORT"):
            env.pop(key, None)
        if not self.keep_database_url:
            env.pop("HUANGPU_DATABASE_URL", None)  # the demo always runs on its own SQLite file
        env.update(
            HUANGPU_HOME=str(self.home),
            HUANGPU_HOST=self.host,
            HUANGPU_PORT=str(self.port),
            HUANGPU_SERVER_URL=self.url,
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        # Jobs run `python ...`: make that this interpreter (with numpy, maybe torch), even when
        # the virtual environment was never activated.
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        return env

    def spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        env = self._env()
        env.update(extra_env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "huangpu", *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.home,
            start_new_session=True,
        )
        child = Child(name, process, log_path, log_file)
        self.children.append(child)
        return child

    def dead_children(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def check_children(self) -> None:
        dead = self.dead_children()
        if dead:
            names = ", ".join(
                f"{c.name} (exit {c.process.returncode}, log {c.log_path})" for c in dead
            )
            raise CliError(
                f"a platform process stopped: {names}", hint=f"read the logs under {self.log_dir}"
            )

    def stop(self) -> None:
        """SIGTERM every child by PID, newest first, then SIGKILL what is left after the grace."""
        for child in reversed(self.children):
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait(timeout=5)
            child.log_file.close()
        self.children.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[Platform]:
        """Start everything; stop everything on exit, SIGTERM and Ctrl-C included."""
        # SIGINT too: a shell starts background jobs with SIGINT ignored, and then Python
        # never raises KeyboardInterrupt.
        previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            yield self
        finally:
            with self.console.status("stopping platform processes…"):
                self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # ---- start-up --------------------------------------------------------------------------
    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.console.status(f"starting server on {self.url}…"):
            self.spawn("server", ["server", "--host", self.host, "--port", str(self.port)])
            self.operator_token = self._wait_for_server(timeout=90)
        self.console.print(
            f"[green]✓[/green] server {self.url} (pid {self.children[0].process.pid})"
        )
        with self.console.status("starting scheduler…"):
            sched = self.spawn("scheduler", ["scheduler"])
            time.sleep(0.5)
            self.check_children()
        self.console.print(f"[green]✓[/green] scheduler (pid {sched.process.pid})")
        with (
            self.console.status("registering orgs, suppliers, pools and tokens…"),
            self.operator_client() as api,
        ):
            agent_tokens = self.bootstrap(api)
            setup_ledger(
                api,
                [(p.name, p.inventory) for p in self.plan.pools],
                [(o.name, o.category) for o in self.plan.orgs],
            )
        self.console.print(
            f"[green]✓[/green] orgs {', '.join(o.name for o in self.plan.orgs)}; pools "
            + ", ".join(f"{p.name} ({p.supplier}, {p.inventory})" for p in self.plan.pools)
        )
        with self.console.status("starting agents…"):
            for pool in self.plan.pools:
                self.spawn(
                    f"agent-{pool.name}",
                    [
                        "agent",
                        "--server",
                        self.url,
                        "--pool",
                        pool.name,
                        "--inventory",
                        pool.inventory,
                        "--name",
                        f"{pool.name}-agent",
                        "--state-dir",
                        str(self.home / "agents" / pool.name),
                    ],
                    # The secret goes in the environment, not on argv where `ps` shows it.
                    extra_env={"HUANGPU_TOKEN": agent_tokens[pool.name]},
                )
            self._wait_for_agents(timeout=60)
        self.console.print(
            f"[green]✓[/green] agents online for {', '.join(p.name for p in self.plan.pools)}"
        )

    def operator_client(self) -> ApiClient:
        return ApiClient(self.url, self.operator_token)

    def tenant_client(self, org: str) -> ApiClient:
        return ApiClient(self.url, self.tenant_tokens[org])

    def _wait_for_server(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with ApiClient(self.url, None, timeout=2.0) as api:
            while True:
                self.check_children()
                try:
                    api.healthz()
                    token = read_token_file(self.token_file)
                    if token:
                        return token
                except ServerUnreachable:
                    pass
                if time.monotonic() > deadline:
                    raise CliError(
                        f"the server did not become healthy within {timeout:.0f}s",
                        hint=f"read {self.log_dir / 'server.log'}",
                    )
                time.sleep(0.2)

    def _wait_for_agents(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        wanted = {p.name for p in self.plan.pools}
        with self.operator_client() as api:
            while True:
                self.check_children()
                pools = api.list_pools()
                online = {
                    p["name"] for p in pools if any(a.get("online") for a in p.get("agents") or [])
                }
                if wanted <= online:
                    return
                if time.monotonic() > deadline:
                    raise CliError(
                        f"agents for {', '.join(sorted(wanted - online))} did not "
                        f"come online within {timeout:.0f}s",
                        hint=f"read the agent logs under {self.log_dir}",
                    )
                time.sleep(0.3)

    def bootstrap(self, api: ApiClient) -> dict[str, str]:
        """Create what the plan names and is missing; return a fresh agent token per pool."""
        orgs = {o["name"] for o in api.list_orgs()}
        for org in self.plan.orgs:
            if org.name not in orgs:
                api.create_org(org.name, org.category)
        suppliers = {s["name"] for s in api.list_suppliers()}
        for supplier in self.plan.suppliers:
            if supplier not in suppliers:
                api.create_supplier(supplier)
        pools = {p["name"] for p in api.list_pools()}
        for pool in self.plan.pools:
            if pool.name not in pools:
                api.create_pool(pool.name, pool.supplier, pool.region, "local")
        # Secrets are shown once, so tokens are minted per start rather than reused.
        tokens_dir = self.home / "tokens"
        tokens_dir.mkdir(parents=True, exist_ok=True)
        for org in self.plan.orgs:
            token = api.create_token("tenant", org=org.name, name=f"{org.name}-launcher")
            self.tenant_tokens[org.name] = token["token"]
            _write_secret(tokens_dir / f"{org.name}.token", token["token"])
        agent_tokens: dict[str, str] = {}
        for pool in self.plan.pools:
            token = api.create_token("agent", pool=pool.name, name=f"{pool.name}-agent")
            agent_tokens[pool.name] = token["token"]
        return agent_tokens

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "docs": f"{self.url}/docs",
            "home": str(self.home),
            "operator_token_file": str(self.token_file),
            "logs": str(self.log_dir),
            "tenant_token_files": {
                o: str(self.home / "tokens" / f"{o}.token") for o in self.tenant_tokens
            },
            "pids": {c.name: c.process.pid for c in self.children},
        }


def _write_secret(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
