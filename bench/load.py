"""Sustained load on PostgreSQL: job submits while 10,000 simulated agents heartbeat.

One real ``huangpu server`` process on a throwaway PostgreSQL (scripts/pg-up.sh); no scheduler,
so only the API is measured. Setup registers ``--pools`` x ``--agents-per-pool`` agents (one
1xA100 node each; agent tokens are per pool). Then, in one run:

- a heartbeat process sends ``POST /v1/agent/poll`` (``wait_seconds: 0``) for every agent
  every ``--heartbeat-period`` seconds, open loop: 10,000 agents / 10 s = 1,000 polls/s;
- meanwhile the submit phases run one after the other, each for ``--seconds``:
  ``POST /v1/jobs:batch`` (``--batch`` jobs a request) and single ``POST /v1/jobs``;
- then, when Slurm is installed, local Slurm's ``sbatch`` rate over the same duration
  (scripts/slurm-up.sh on its own dir and port base; "skipped" otherwise).

    .venv/bin/python bench/load.py            # Rich table
    .venv/bin/python bench/load.py --json

Everything it starts is stopped by PID. Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from huangpu.testing.builders import inventory, job_spec
from huangpu.testing.engines import SlurmCluster
from huangpu.testing.processes import ApiClient, PostgresServer, ServerProcess, child_env

TARGET_JOBS_PER_S = 1000.0
TARGET_P99_MS = 200.0
SLURM_PORT_BASE = 28810


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    per_s: float  # accepted jobs/s for submits, answered polls/s for heartbeats
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_error: str = ""


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarise(
    name: str, latencies: list[float], errors: list[str], seconds: float, accepted: int
) -> Result:
    ms = sorted(x * 1000 for x in latencies)
    return Result(
        name=name,
        requests=len(latencies),
        errors=len(errors),
        seconds=round(seconds, 2),
        per_s=round(accepted / seconds, 1) if seconds else 0.0,
        p50_ms=round(statistics.median(ms), 2) if ms else float("nan"),
        p99_ms=round(percentile(ms, 99), 2),
        max_ms=round(ms[-1], 2) if ms else float("nan"),
        first_error=errors[0][:200] if errors else "",
    )


# --- setup -------------------------------------------------------------------------------------
async def register_agents(
    url: str, tokens: list[str], per_pool: int, concurrency: int = 32
) -> list[tuple[str, str]]:
    """Register ``per_pool`` agents for each pool token; returns (token, agent_id) pairs."""
    todo = [(t, f"sim-{p}-{a}") for p, t in enumerate(tokens) for a in range(per_pool)]
    out: list[tuple[str, str]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=60.0, trust_env=False
    ) as http:

        async def worker() -> None:
            while todo:
                token, name = todo.pop()
                nodes = inventory("a100", 1, prefix=name)["nodes"]
                resp = await http.post(
                    "/v1/agent/register",
                    json={"agent_name": name, "nodes": nodes},
                    headers={"Authorization": f"Bearer {token}"},
                )
                resp.raise_for_status()
                out.append((token, resp.json()["agent_id"]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def prepare(api: ApiClient, pools: int, per_pool: int) -> tuple[str, list[tuple[str, str]]]:
    api.create_org("load-org", "startup")
    tenant = str(api.create_token("tenant", org="load-org", name="load-tenant")["token"])
    api.create_supplier("load-supplier")
    tokens = []
    for p in range(pools):
        api.create_pool(f"load-pool-{p}", "load-supplier")
        tokens.append(str(api.create_token("agent", pool=f"load-pool-{p}")["token"]))
    agents = asyncio.run(register_agents(api.base_url, tokens, per_pool))
    return tenant, agents


# --- heartbeats (own process, so its CPU does not slow the submit clients) ---------------------
async def heartbeat_loop(
    url: str, agents: list[tuple[str, str]], period: float, seconds: float, connections: int
) -> dict[str, Any]:
    rate = len(agents) / period
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    errors: list[str] = []
    late = 0
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30.0, trust_env=False
    ) as http:

        async def beat(token: str, agent_id: str) -> None:
            start = time.perf_counter()
            try:
                resp = await http.post(
                    "/v1/agent/poll",
                    json={"agent_id": agent_id, "wait_seconds": 0},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if resp.status_code != 200:
                    errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
            latencies.append(time.perf_counter() - start)

        tasks: set[asyncio.Task[None]] = set()
        began = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            due = began + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                late += 1
            task = asyncio.create_task(beat(*agents[i % len(agents)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        # Bounded: what the server has not answered 20 s after the last send is unanswered.
        sent_for = time.perf_counter() - began
        _, pending = await asyncio.wait(tasks, timeout=20.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        errors += ["unanswered after the run"] * len(pending)
        elapsed = max(sent_for, 1e-9)
    result = summarise("heartbeat poll", latencies, errors, elapsed, len(latencies) - len(errors))
    return {"result": asdict(result), "late": late, "target_per_s": rate}


def heartbeat_main(
    url: str,
    agents: list[tuple[str, str]],
    period: float,
    seconds: float,
    connections: int,
    out: Any,
) -> None:
    out.put(asyncio.run(heartbeat_loop(url, agents, period, seconds, connections)))


# --- submits -----------------------------------------------------------------------------------
async def submit_phase(
    url: str, token: str, seconds: float, clients: int, batch: int | None
) -> Result:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors: list[str] = []
    accepted = 0
    counter = 0
    deadline = 0.0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal accepted, counter
        while time.perf_counter() < deadline:
            counter += 1
            n = counter
            if batch:
                path = "/v1/jobs:batch"
                body: dict[str, Any] = {
                    "jobs": [job_spec(f"lb-{n}-{i}", "true", chips=["a100"]) for i in range(batch)]
                }
            else:
                path, body = "/v1/jobs", {"spec": job_spec(f"ls-{n}", "true", chips=["a100"])}
            start = time.perf_counter()
            try:
                resp = await http.post(path, json=body, headers=headers)
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                latencies.append(time.perf_counter() - start)
                continue
            latencies.append(time.perf_counter() - start)
            if resp.status_code == 201:
                accepted += batch or 1
            else:
                errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")

    clients_http = [
        httpx.AsyncClient(base_url=url, timeout=30.0, trust_env=False) for _ in range(clients)
    ]
    began = time.perf_counter()
    deadline = began + seconds
    try:
        await asyncio.gather(*(worker(c) for c in clients_http))
    finally:
        for c in clients_http:
            await c.aclose()
    elapsed = time.perf_counter() - began
    name = f"submit batch x{batch} ({clients} clients)" if batch else f"submit single ({clients})"
    return summarise(name, latencies, errors, elapsed, accepted)


# --- Slurm -------------------------------------------------------------------------------------
def sbatch_rate(seconds: float, workers: int) -> Result | str:
    if not SlurmCluster.available():
        return "skipped (Slurm not installed)"
    cluster = SlurmCluster(port_base=SLURM_PORT_BASE)
    try:
        cluster.start()
    except Exception as error:  # report it; do not fail the benchmark
        cluster.stop()
        return f"skipped (slurm-up.sh failed: {str(error)[:160]})"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    env = child_env(cluster.slurm_env)
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            done = subprocess.run(
                ["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "true"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            with lock:
                latencies.append(time.perf_counter() - start)
                if done.returncode != 0:
                    errors.append(done.stderr.strip()[:200])

    try:
        began = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
    finally:
        cluster.stop()
    ok = len(latencies) - len(errors)
    return summarise(f"slurm sbatch ({workers} workers)", latencies, errors, elapsed, ok)


# --- main --------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), "")
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "loadavg_before": list(os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0, help="per submit phase")
    parser.add_argument("--pools", type=int, default=100)
    parser.add_argument("--agents-per-pool", type=int, default=100)
    parser.add_argument("--heartbeat-period", type=float, default=10.0)
    parser.add_argument("--heartbeat-connections", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--single-clients", type=int, default=32)
    parser.add_argument("--slurm-workers", type=int, default=8)
    parser.add_argument("--no-slurm", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    info = machine()
    if not PostgresServer.available():
        console.print("PostgreSQL is not installed (scripts/pg-up.sh needs initdb)")
        return 2
    pg = PostgresServer()
    server: ServerProcess | None = None
    hb_proc: mp.process.BaseProcess | None = None
    results: list[Result] = []
    heartbeat: dict[str, Any] = {}
    try:
        with console.status("starting PostgreSQL and the server…"):
            pg.start()
            server = ServerProcess(database_url=pg.url)
            server.start()
        t0 = time.perf_counter()
        with (
            console.status(f"registering {args.pools * args.agents_per_pool} agents…"),
            ApiClient(server.url, server.operator_token, timeout=60) as api,
        ):
            tenant, agents = prepare(api, args.pools, args.agents_per_pool)
        info["setup_s"] = round(time.perf_counter() - t0, 1)
        time.sleep(2.5)  # the submit-time capacity cache may be up to 2 s stale

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        hb_seconds = 2 * args.seconds + 2
        hb_proc = ctx.Process(
            target=heartbeat_main,
            args=(
                server.url,
                agents,
                args.heartbeat_period,
                hb_seconds,
                args.heartbeat_connections,
                queue,
            ),
            daemon=True,
        )
        hb_proc.start()
        time.sleep(1.0)  # heartbeats are flowing before the submits start
        with console.status("submitting (batch, then single) under heartbeat load…"):
            results.append(
                asyncio.run(
                    submit_phase(server.url, tenant, args.seconds, args.batch_clients, args.batch)
                )
            )
            results.append(
                asyncio.run(
                    submit_phase(server.url, tenant, args.seconds, args.single_clients, None)
                )
            )
        try:
            heartbeat = queue.get(timeout=hb_seconds + 60)
            results.append(Result(**heartbeat["result"]))
        except Exception:  # the heartbeat process never reported
            results.append(summarise("heartbeat poll", [], ["no report"], hb_seconds, 0))
        hb_proc.join(timeout=10)
    finally:
        if hb_proc is not None and hb_proc.is_alive() and hb_proc.pid is not None:
            os.kill(hb_proc.pid, 9)
        if server is not None:
            server.stop()
        pg.stop()
        if pg.dir.exists():
            shutil.rmtree(pg.dir, ignore_errors=True)
    slurm: Result | str = "skipped (--no-slurm)"
    if not args.no_slurm:
        with console.status("measuring local Slurm sbatch…"):
            slurm = sbatch_rate(args.seconds, args.slurm_workers)
    if isinstance(slurm, Result):
        results.append(slurm)
    info["loadavg_after"] = list(os.getloadavg())
    batch = results[0]
    met = batch.per_s >= TARGET_JOBS_PER_S and batch.p99_ms < TARGET_P99_MS
    hb = results[2]
    report = {
        "machine": info,
        "results": [asdict(r) for r in results],
        "heartbeat_target_per_s": heartbeat.get("target_per_s"),
        "heartbeat_late": heartbeat.get("late"),
        "slurm": slurm if isinstance(slurm, str) else "measured",
        "target": {"jobs_per_s": TARGET_JOBS_PER_S, "p99_ms": TARGET_P99_MS},
        "target_met_batch": met,
        "heartbeat_p99_under_target": hb.p99_ms < TARGET_P99_MS,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    table = Table(title=f"huangpu load on PostgreSQL ({info['nproc']} cores, {info['cpu']})")
    for col in ("path", "requests", "errors", "seconds", "jobs or polls/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for r in results:
        table.add_row(
            r.name,
            str(r.requests),
            str(r.errors),
            f"{r.seconds:.1f}",
            f"{r.per_s:.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
        )
    if isinstance(slurm, str):
        table.add_row("slurm sbatch", "", "", "", slurm, "", "")
    out = Console()
    out.print(table)
    out.print(
        f"agents {args.pools * args.agents_per_pool}, heartbeat target "
        f"{heartbeat.get('target_per_s', 0):.0f}/s (late sends: {heartbeat.get('late')}); "
        f"target ≥{TARGET_JOBS_PER_S:.0f} jobs/s with p99 <{TARGET_P99_MS:.0f} ms: "
        f"{'met' if met else 'NOT met'} (batch); load average before/after "
        f"{info['loadavg_before'][0]:.2f}/{info['loadavg_after'][0]:.2f}"
    )
    for r in results:
        if r.first_error:
            out.print(f"[yellow]{r.name}: first error: {r.first_error}[/yellow]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
