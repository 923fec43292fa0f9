"""Jobs accepted per second through ``POST /v1/jobs`` on SQLite, at 1, 8 and 64 clients.

Starts a real ``huangpu server`` process on a fresh temp home (SQLite) and nothing else: no
scheduler and no agent, so only the submit path is measured. To pass the submit-time
feasibility check it registers an inventory through the agent protocol, as an agent would.
Each level runs a warm-up, then a fixed number of requests from N concurrent clients (asyncio
tasks sharing one httpx.AsyncClient connection pool, one connection per client).

    .venv/bin/python bench/submit.py                 # Rich table
    .venv/bin/python bench/submit.py --json          # machine-readable
    .venv/bin/python bench/submit.py --profile DIR   # server under py-spy (if installed)

The client runs on the same machine as the server, so both share its cores; the table shows
how much CPU the client itself used, to read the figures with that in mind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from huangpu.testing.builders import inventory, job_spec
from huangpu.testing.processes import ApiClient, ServerProcess

TARGET_JOBS_PER_S = 500.0
TARGET_CLIENTS = 64


@dataclass
class LevelResult:
    clients: int
    requests: int
    errors: int
    seconds: float
    jobs_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float
    server_cpu_s: float
    server_cpu_ms_per_job: float


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0.0 when unknown."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run_level(
    url: str,
    token: str,
    clients: int,
    count: int,
    warmup: int,
    deadline: float,
    shared_pool: bool = False,
    server_pid: int | None = None,
) -> LevelResult:
    headers = {"Authorization": f"Bearer {token}"}

    def new_client(connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=30.0, trust_env=False
        )

    # One AsyncClient (a pool of one keep-alive connection) per simulated client by default:
    # one pool shared by 64 tasks cost the client ~5.6 ms of CPU per request here (vs ~1 ms),
    # and on 2 cores that CPU is taken from the server being measured. --shared-pool shows it.
    pool = (
        [new_client(clients)] * clients if shared_pool else [new_client(1) for _ in range(clients)]
    )
    next_index = 0

    async def fire(total: int, latencies: list[float], errors: list[str]) -> float:
        nonlocal next_index
        stop_at = next_index + total

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal next_index
            while next_index < stop_at and time.monotonic() < deadline:
                i = next_index
                next_index += 1
                body = {"spec": job_spec(f"bench-{clients}-{i}", "true", chips=["a100"])}
                start = time.perf_counter()
                try:
                    resp = await client.post("/v1/jobs", json=body)
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                finally:
                    latencies.append(time.perf_counter() - start)
                if resp.status_code != 201:
                    errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")

        began = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        return time.perf_counter() - began

    try:
        await fire(warmup, [], [])
        latencies: list[float] = []
        errors: list[str] = []
        cpu0, server0 = time.process_time(), process_cpu(server_pid)
        seconds = await fire(count, latencies, errors)
        cpu, server_cpu = time.process_time() - cpu0, process_cpu(server_pid) - server0
    finally:
        for client in set(pool):
            await client.aclose()
    if errors:
        print(f"{len(errors)} errors at {clients} clients, first: {errors[0]}", file=sys.stderr)
    done = len(latencies)
    ms = sorted(x * 1000 for x in latencies)
    return LevelResult(
        clients=clients,
        requests=done,
        errors=len(errors),
        seconds=round(seconds, 3),
        jobs_per_s=round((done - len(errors)) / seconds, 1) if seconds else 0.0,
        p50_ms=round(statistics.median(ms), 2) if ms else float("nan"),
        p99_ms=round(percentile(ms, 99), 2),
        max_ms=round(ms[-1], 2) if ms else float("nan"),
        client_cpu_s=round(cpu, 2),
        server_cpu_s=round(server_cpu, 2),
        server_cpu_ms_per_job=round(1000 * server_cpu / done, 3) if done else float("nan"),
    )


def prepare(server: ServerProcess) -> str:
    """Org, tenant token, and a registered 8×A100 inventory; returns the tenant token."""
    with ApiClient(server.url, server.operator_token) as api:
        api.create_org("bench-org")
        tenant = str(api.create_token("tenant", org="bench-org")["token"])
        api.create_supplier("bench-supplier")
        api.create_pool("bench-pool", "bench-supplier")
        agent = str(api.create_token("agent", pool="bench-pool")["token"])
        nodes = inventory("a100", 8, prefix="bench")["nodes"]
        api.post("/v1/agent/register", {"agent_name": "bench", "nodes": nodes}, agent)
    return tenant


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per level")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per level")
    parser.add_argument("--levels", default="1,8,64", help="comma-separated client counts")
    parser.add_argument("--timeout", type=float, default=600.0, help="overall time limit, s")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--shared-pool", action="store_true", help="all clients share one AsyncClient pool"
    )
    parser.add_argument("--profile", type=Path, help="record the server with py-spy into DIR")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    deadline = time.monotonic() + args.timeout
    console = Console(stderr=args.json)

    server = ServerProcess()
    server.start()
    profiler: subprocess.Popen[bytes] | None = None
    results: list[LevelResult] = []
    try:
        token = prepare(server)
        if args.profile:
            profiler = start_py_spy(server.pid, args.profile)
        for clients in levels:
            console.log(f"{clients} clients: {args.warmup} warm-up + {args.requests} requests")
            result = asyncio.run(
                run_level(
                    server.url,
                    token,
                    clients,
                    args.requests,
                    args.warmup,
                    deadline,
                    args.shared_pool,
                    server.pid,
                )
            )
            results.append(result)
            if time.monotonic() > deadline:
                console.log("time limit reached; later levels skipped")
                break
    finally:
        if profiler is not None:
            # py-spy writes its output when interrupted.
            profiler.send_signal(2)
            profiler.wait(30)
        server.stop()

    at_target = next((r for r in results if r.clients == TARGET_CLIENTS), None)
    met = at_target is not None and at_target.jobs_per_s >= TARGET_JOBS_PER_S
    report = {
        "machine": machine(),
        "database": "sqlite",
        "target": {"clients": TARGET_CLIENTS, "jobs_per_s": TARGET_JOBS_PER_S, "met": met},
        "levels": [asdict(r) for r in results],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        table = Table(title="POST /v1/jobs on SQLite (one server process)")
        for col in ("clients", "requests", "errors", "jobs/s", "p50 ms", "p99 ms", "max ms"):
            table.add_column(col, justify="right")
        table.add_column("server CPU ms/job", justify="right")
        table.add_column("client CPU s", justify="right")
        for r in results:
            table.add_row(
                str(r.clients),
                str(r.requests),
                str(r.errors),
                f"{r.jobs_per_s:.1f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.max_ms:.1f}",
                f"{r.server_cpu_ms_per_job:.2f}",
                f"{r.client_cpu_s:.1f}",
            )
        got = f"{at_target.jobs_per_s:.1f}" if at_target else "not measured"
        table.caption = (
            f"target: ≥ {TARGET_JOBS_PER_S:.0f} jobs/s at {TARGET_CLIENTS} clients; "
            f"got {got}: {'met' if met else 'NOT met'}"
        )
        console.print(table)
        m = report["machine"]
        console.print(f"{m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}, {m['date']}")
    return 0 if all(r.errors == 0 for r in results) else 1


def start_py_spy(pid: int, out_dir: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not installed (pip install py-spy); not profiling", file=sys.stderr)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    # --threads: the sync route handlers run in worker threads, not the event loop's.
    return subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out_dir / "server.pyspy.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    sys.exit(main())
