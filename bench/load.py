"""Sustained load on PostgreSQL: job submits while 10,000 simulated agents heartbeat.

One real ``huangpu server`` on a throwaway PostgreSQL (scripts/pg-up.sh), with
``--server-workers`` processes sharing its port (default 2: one process is bound by its GIL
to one core); no scheduler, so only the API is measured. Setup registers ``--pools`` x
``--agents-per-pool`` agents (one 1xA100 node each; agent tokens are per pool); 2 s of
unmeasured batch submits then warm every worker's caches. Then, in one run:

- ``--heartbeat-procs`` processes send ``POST /v1/agent/poll`` (``wait_seconds: 0``) for every
  agent every ``--heartbeat-period`` seconds, open loop (sends follow a fixed schedule, not the
  answers): 10,000 agents / 10 s = 1,000 polls/s, over the whole submit part;
- meanwhile the submit phases run one after the other, each for ``--seconds``:
  1. ``POST /v1/jobs:batch`` open loop at ``--submit-rate`` jobs/s (``--batch`` jobs a request):
     the sustained rate, whose accepted jobs/s and p50/p99 are held against the target;
  2. the same batches closed loop (``--batch-clients`` clients, each sends when answered): the
     most the server accepts;
  3. single ``POST /v1/jobs``, closed loop (``--single-clients``);
- then, when Slurm is installed, local Slurm's ``sbatch`` rate over ``--seconds``
  (scripts/slurm-up.sh on its own dir and port base; "skipped" otherwise).

    .venv/bin/python bench/load.py            # table on stdout, progress on stderr
    .venv/bin/python bench/load.py --json     # the same figures as JSON

The clients speak HTTP/1.1 over asyncio streams (uvloop), with keep-alive connections and
request bytes built up front: the load generator shares the cores with the server and
PostgreSQL, so it must be cheap (about 0.15 ms of CPU a poll here; the earlier one-process
httpx client never delivered its report at 1,000 polls/s). The table's last lines give the
CPU each part used, and the load average before and after: read them before the latencies.
Latency is from writing the request to reading the whole answer; "late" counts scheduled sends
that left more than 50 ms behind their schedule (the client or its connections fell behind).
Everything it starts (PostgreSQL, the server, the client processes, Slurm) is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from huangpu.testing.builders import inventory, job_spec
from huangpu.testing.engines import SlurmCluster
from huangpu.testing.processes import (
    ApiClient,
    PostgresServer,
    ServerProcess,
    child_env,
    descendants,
)

TARGET_JOBS_PER_S = 1000.0
TARGET_P99_MS = 200.0
SLURM_PORT_BASE = 28810
LATE_S = 0.05


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
    offered_per_s: float | None = None  # open loop: the schedule's rate
    late: int = 0  # open loop: sends more than 50 ms behind schedule
    first_error: str = ""

    @property
    def meets_target(self) -> bool:
        return self.per_s >= TARGET_JOBS_PER_S and self.p99_ms < TARGET_P99_MS


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarise(
    name: str,
    latencies: list[float],
    errors: list[str],
    seconds: float,
    accepted: int,
    offered: float | None = None,
    late: int = 0,
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
        offered_per_s=offered,
        late=late,
        first_error=errors[0][:200] if errors else "",
    )


# --- a cheap HTTP/1.1 client -------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection: write prepared request bytes, read one answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        reused = self._writer is not None
        try:
            return await self._request(raw)
        except asyncio.IncompleteReadError as error:
            # The server closes a keep-alive connection idle past its timeout (uvicorn: 5 s);
            # a request written into it is never read, so it is sent again on a new one, as
            # HTTP clients do with a stale pooled connection.
            if not reused or error.partial:
                raise
            return await self._request(raw)

    async def _request(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(raw)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise RuntimeError("chunked answers are not supported by this client")
            body = await self._reader.readexactly(length) if length else b""
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def post_bytes(url: str, path: str, token: str, body: bytes) -> bytes:
    host = urlsplit(url).netloc
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def run_loop(coro: Awaitable[Any]) -> Any:
    """asyncio.run, on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


async def exchange(
    conn: Connection, raw: bytes, ok_status: int, weight: int, errors: list[str]
) -> int:
    """One request on ``conn``: ``weight`` when answered ``ok_status``, else 0 with the error
    recorded."""
    try:
        status, body = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as error:
        errors.append(f"{type(error).__name__}: {error}")
        return 0
    if status == ok_status:
        return weight
    errors.append(f"HTTP {status}: {body[:200].decode(errors='replace')}")
    return 0


async def open_loop(
    url: str,
    requests: list[bytes],
    rate: float,
    seconds: float,
    connections: int,
    ok_status: int,
    weight: int = 1,
    drain_s: float = 20.0,
) -> dict[str, Any]:
    """Send ``requests`` round robin at ``rate`` a second for ``seconds`` over ``connections``
    keep-alive connections; each answered ``ok_status`` counts ``weight`` (jobs a request)."""
    host, port = address(url)
    due_queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors: list[str] = []
    ok = 0
    late = 0
    last_answer = 0.0

    async def worker() -> None:
        nonlocal ok, late, last_answer
        conn = Connection(host, port)
        try:
            while (item := await due_queue.get()) is not None:
                due, raw = item
                start = time.perf_counter()
                if start - due > LATE_S:
                    late += 1
                ok += await exchange(conn, raw, ok_status, weight, errors)
                last_answer = time.perf_counter()
                latencies.append(last_answer - start)
        finally:
            conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    began = time.perf_counter()
    total = int(rate * seconds)
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due_now = min(total, int((now - began) * rate) + 1)
        while sent < due_now:
            due_queue.put_nowait((began + sent / rate, requests[sent % len(requests)]))
            sent += 1
        await asyncio.sleep(max(0.0, began + sent / rate - time.perf_counter()))
    for _ in workers:
        due_queue.put_nowait(None)
    # Bounded: what is not answered ``drain_s`` after the last send counts as an error.
    _, pending = await asyncio.wait(workers, timeout=drain_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    unanswered = total - len(latencies)
    errors += ["unanswered within the drain time"] * unanswered
    elapsed = max(last_answer, began + seconds) - began
    return {
        "latencies": latencies,
        "errors": errors,
        "ok": ok,
        "seconds": elapsed,
        "late": late,
        "offered": rate * weight,
    }


async def closed_loop(
    url: str,
    make: Callable[[int], bytes],
    seconds: float,
    clients: int,
    ok_status: int,
    weight: int = 1,
) -> dict[str, Any]:
    """``clients`` connections, each sending its next request as soon as it is answered."""
    host, port = address(url)
    latencies: list[float] = []
    errors: list[str] = []
    ok = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal ok, counter
        conn = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                counter += 1
                raw = make(counter)
                start = time.perf_counter()
                ok += await exchange(conn, raw, ok_status, weight, errors)
                latencies.append(time.perf_counter() - start)
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), seconds + 60)
    elapsed = time.perf_counter() - began
    return {"latencies": latencies, "errors": errors, "ok": ok, "seconds": elapsed, "late": 0}


# --- setup -------------------------------------------------------------------------------------
async def register_agents(
    url: str, tokens: list[str], per_pool: int, concurrency: int = 16
) -> list[tuple[str, str]]:
    """Register ``per_pool`` agents for each pool token; returns (token, agent_id) pairs."""
    todo = [(t, f"sim-{p}-{a}") for p, t in enumerate(tokens) for a in range(per_pool)]
    out: list[tuple[str, str]] = []
    host, port = address(url)

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            while todo:
                token, name = todo.pop()
                nodes = inventory("a100", 1, prefix=name)["nodes"]
                body = json.dumps({"agent_name": name, "nodes": nodes}).encode()
                status, answer = await conn.request(
                    post_bytes(url, "/v1/agent/register", token, body)
                )
                if status != 200:
                    raise RuntimeError(f"register: HTTP {status}: {answer[:300]!r}")
                out.append((token, json.loads(answer)["agent_id"]))
        finally:
            conn.close()

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
    agents = run_loop(register_agents(api.base_url, tokens, per_pool))
    return tenant, agents


# --- heartbeats: their own processes, so their CPU does not slow the submit clients -----------
def heartbeat_main(
    url: str,
    agents: list[tuple[str, str]],
    period: float,
    seconds: float,
    connections: int,
    start_at: float,
    out: Any,
) -> None:
    requests = [
        post_bytes(
            url,
            "/v1/agent/poll",
            token,
            json.dumps({"agent_id": agent_id, "wait_seconds": 0}).encode(),
        )
        for token, agent_id in agents
    ]
    time.sleep(max(0.0, start_at - time.time()))  # all heartbeat processes start together
    rate = len(agents) / period
    try:
        cpu0 = time.process_time()
        got = run_loop(open_loop(url, requests, rate, seconds, connections, 200))
        got["cpu_s"] = time.process_time() - cpu0
        out.put(got)
    except BaseException as error:  # report it rather than leave the parent waiting
        out.put({"failed": f"{type(error).__name__}: {error}"})


# --- submits -----------------------------------------------------------------------------------
def batch_body(batch: int) -> Callable[[int], bytes]:
    """Request bodies of ``batch`` jobs with unique names, from one JSON template."""
    spec = json.dumps(job_spec("NAME", "true", chips=["a100"]))
    head, tail = spec.split('"NAME"')
    return lambda n: (
        '{"jobs":[' + ",".join(f'{head}"lb-{n}-{i}"{tail}' for i in range(batch)) + "]}"
    ).encode()


def single_body() -> Callable[[int], bytes]:
    spec = json.dumps(job_spec("NAME", "true", chips=["a100"]))
    head, tail = spec.split('"NAME"')
    return lambda n: f'{{"spec":{head}"ls-{n}"{tail}}}'.encode()


def submit_phases(url: str, token: str, args: argparse.Namespace) -> list[Result]:
    batch = batch_body(args.batch)
    single = single_body()
    results = []
    rate = args.submit_rate / args.batch  # requests a second
    bodies = [post_bytes(url, "/v1/jobs:batch", token, batch(n)) for n in range(2000)]
    got = run_loop(
        open_loop(url, bodies, rate, args.seconds, args.open_connections, 201, args.batch)
    )
    results.append(
        summarise(
            f"batch x{args.batch}, open loop",
            got["latencies"],
            got["errors"],
            got["seconds"],
            got["ok"],
            offered=args.submit_rate,
            late=got["late"],
        )
    )
    got = run_loop(
        closed_loop(
            url,
            lambda n: post_bytes(url, "/v1/jobs:batch", token, batch(100_000 + n)),
            args.seconds,
            args.batch_clients,
            201,
            args.batch,
        )
    )
    results.append(
        summarise(
            f"batch x{args.batch}, closed loop ({args.batch_clients} clients)",
            got["latencies"],
            got["errors"],
            got["seconds"],
            got["ok"],
        )
    )
    got = run_loop(
        closed_loop(
            url,
            lambda n: post_bytes(url, "/v1/jobs", token, single(n)),
            args.seconds,
            args.single_clients,
            201,
        )
    )
    results.append(
        summarise(
            f"single, closed loop ({args.single_clients} clients)",
            got["latencies"],
            got["errors"],
            got["seconds"],
            got["ok"],
        )
    )
    return results


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
    return summarise(
        f"slurm sbatch, closed loop ({workers} workers)", latencies, errors, elapsed, ok
    )


# --- machine -----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if "model name" in ln), "")
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (those that still exist)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def runqueue_ns(pids: list[int]) -> dict[tuple[int, str], int]:
    """Per thread of these processes, nanoseconds spent runnable but waiting for a core
    (/proc/PID/task/TID/schedstat, second field)."""
    out = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError, IndexError, ValueError),
                    open(f"/proc/{pid}/task/{tid}/schedstat") as f,
                ):
                    out[(pid, tid)] = int(f.read().split()[1])
    return out


def runqueue_seconds(before: dict[tuple[int, str], int], pids: list[int]) -> float:
    """Run-queue wait since ``before`` of the threads alive now (a thread started since
    counts whole; one that ended meanwhile is lost)."""
    after = runqueue_ns(pids)
    return sum(ns - before.get(key, 0) for key, ns in after.items()) / 1e9


def machine_cpu() -> list[int]:
    """/proc/stat's first line: jiffies of user, nice, system, idle, iowait, irq, softirq,
    steal for the whole machine."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def postgres_pids(pg: PostgresServer) -> list[int]:
    """The postmaster and its backends."""
    if pg.pid is None:
        return []
    pids = [pg.pid]
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with (
                    contextlib.suppress(OSError, IndexError, ValueError),
                    open(f"/proc/{entry}/stat") as f,
                ):
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pg.pid:
                        pids.append(int(entry))
    return pids


# --- main --------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seconds", type=float, default=20.0, help="per submit phase")
    parser.add_argument("--pools", type=int, default=100)
    parser.add_argument("--agents-per-pool", type=int, default=100)
    parser.add_argument("--heartbeat-period", type=float, default=10.0)
    parser.add_argument("--heartbeat-procs", type=int, default=2)
    parser.add_argument(
        "--heartbeat-connections", type=int, default=128, help="per heartbeat process"
    )
    parser.add_argument("--submit-rate", type=float, default=1200.0, help="jobs/s, open loop")
    parser.add_argument("--batch", type=int, default=20, help="jobs per batch request")
    parser.add_argument("--open-connections", type=int, default=16)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--single-clients", type=int, default=16)
    parser.add_argument("--slurm-workers", type=int, default=8)
    parser.add_argument("--no-slurm", action="store_true")
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record the server with py-spy during the submit phases (collapsed stacks)",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=2,
        help="server processes sharing one port (HUANGPU_SERVER_WORKERS); one is GIL-bound",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    console = Console(stderr=True)
    info = machine()
    info["uptime_before"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    if not PostgresServer.available():
        console.print("PostgreSQL is not installed (scripts/pg-up.sh needs initdb)")
        return 2
    pg = PostgresServer()
    server: ServerProcess | None = None
    hb_procs: list[mp.process.BaseProcess] = []
    results: list[Result] = []
    heartbeat: dict[str, Any] = {}
    try:
        with console.status("starting PostgreSQL and the server…"):
            pg.start()
            server = ServerProcess(
                database_url=pg.url,
                env=(
                    {"HUANGPU_SERVER_WORKERS": str(args.server_workers)}
                    if args.server_workers > 1
                    else None
                ),
            )
            server.start()
        t0 = time.perf_counter()
        with (
            console.status(f"registering {args.pools * args.agents_per_pool} agents…"),
            ApiClient(server.url, server.operator_token, timeout=60) as api,
        ):
            tenant, agents = prepare(api, args.pools, args.agents_per_pool)
        info["setup_s"] = round(time.perf_counter() - t0, 1)
        time.sleep(2.5)  # the submit-time capacity cache may be up to 2 s stale
        with console.status("warming up (2 s of batch submits, not measured)…"):
            warm = batch_body(args.batch)
            run_loop(
                closed_loop(
                    server.url,
                    lambda n: post_bytes(server.url, "/v1/jobs:batch", tenant, warm(900_000 + n)),
                    2.0,
                    8,
                    201,
                )
            )

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        hb_seconds = 3 * args.seconds + 2
        start_at = time.time() + 3.0  # room for the processes to spawn and build requests
        n = max(1, args.heartbeat_procs)
        for i in range(n):
            child = ctx.Process(
                target=heartbeat_main,
                args=(
                    server.url,
                    agents[i::n],
                    args.heartbeat_period,
                    hb_seconds,
                    args.heartbeat_connections,
                    start_at,
                    queue,
                ),
                daemon=True,
            )
            child.start()
            hb_procs.append(child)
        time.sleep(max(0.0, start_at + 1.0 - time.time()))  # heartbeats flow before submits
        pids = [server.pid, *descendants(server.pid)]
        cpu0, pg0, w0 = cpu_seconds(pids), cpu_seconds(postgres_pids(pg)), time.perf_counter()
        rq0, stat0 = runqueue_ns(pids), machine_cpu()
        me0 = time.process_time()
        spy = None
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    shutil.which("py-spy")
                    or os.path.join(os.path.dirname(sys.executable), "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--subprocesses",
                    "-o",
                    args.py_spy,
                    "--pid",
                    str(server.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            with console.status("submitting (open loop, closed loop, single) under heartbeats…"):
                results += submit_phases(server.url, tenant, args)
        finally:
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its file on SIGINT
                spy.wait(timeout=30)
        wall = time.perf_counter() - w0
        info["submit_client_cpu_cores"] = round((time.process_time() - me0) / wall, 2)
        info["server_cpu_cores"] = round((cpu_seconds(pids) - cpu0) / wall, 2)
        info["postgres_cpu_cores"] = round((cpu_seconds(postgres_pids(pg)) - pg0) / wall, 2)
        # Runnable but not running: how long the server's threads queued for a core.
        info["server_runqueue_wait_cores"] = round(runqueue_seconds(rq0, pids) / wall, 2)
        spent = [b - a for a, b in zip(stat0, machine_cpu(), strict=True)]
        names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
        info["machine_cpu_share"] = {
            name: round(x / max(1, sum(spent)), 3) for name, x in zip(names, spent, strict=True)
        }
        parts = []
        with console.status("waiting for the heartbeat processes' reports…"):
            for _ in hb_procs:
                try:
                    parts.append(queue.get(timeout=hb_seconds + 60))
                except Exception:  # a heartbeat process never reported
                    parts.append({"failed": "no report"})
        failed = [p["failed"] for p in parts if "failed" in p]
        done = [p for p in parts if "failed" not in p]
        latencies = [x for p in done for x in p["latencies"]]
        errors = failed + [e for p in done for e in p["errors"]]
        seconds = max((p["seconds"] for p in done), default=hb_seconds)
        target = len(agents) / args.heartbeat_period
        hb = summarise(
            f"heartbeat poll, open loop ({n} procs)",
            latencies,
            errors,
            seconds,
            sum(p["ok"] for p in done),
            offered=target,
            late=sum(p["late"] for p in done),
        )
        results.append(hb)
        heartbeat = {"target_per_s": target, "achieved_per_s": hb.per_s}
        info["heartbeat_client_cpu_cores"] = round(
            sum(p.get("cpu_s", 0.0) for p in done) / max(seconds, 1e-9), 2
        )
        for proc in hb_procs:
            proc.join(timeout=10)
    finally:
        for proc in hb_procs:
            if proc.is_alive() and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, 9)
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
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    info["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    sustained = results[0]
    report = {
        "machine": info,
        "args": vars(args),
        "results": [asdict(r) | {"meets_target": r.meets_target} for r in results],
        "heartbeat": heartbeat,
        "slurm": slurm if isinstance(slurm, str) else "measured",
        "target": {"jobs_per_s": TARGET_JOBS_PER_S, "p99_ms": TARGET_P99_MS},
        "target_met": sustained.meets_target,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_report(report, results, slurm, args)
    return 0


def print_report(
    report: dict[str, Any], results: list[Result], slurm: Result | str, args: argparse.Namespace
) -> None:
    info = report["machine"]
    table = Table(
        title=f"huangpu load on PostgreSQL, {info['date']} "
        f"({info['nproc']} cores, {info['cpu']}, server workers {args.server_workers})"
    )
    cols = ("path", "offered/s", "requests", "errors", "late", "accepted/s", "p50 ms", "p99 ms")
    for col in (*cols, "max ms"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for r in results:
        table.add_row(
            r.name,
            "" if r.offered_per_s is None else f"{r.offered_per_s:.0f}",
            str(r.requests),
            str(r.errors),
            str(r.late) if r.offered_per_s is not None else "",
            f"{r.per_s:.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.0f}",
        )
    if isinstance(slurm, str):
        table.add_row("slurm sbatch", "", "", "", "", slurm, "", "", "")
    out = Console(width=160)
    out.print(table)
    sustained, hb = results[0], next(r for r in results if r.name.startswith("heartbeat"))
    sb = next((r for r in results if r.name.startswith("slurm")), None)
    out.print(
        f"agents {args.pools * args.agents_per_pool}; heartbeats offered {hb.offered_per_s:.0f}/s, "
        f"answered {hb.per_s:.0f}/s, p99 {hb.p99_ms:.1f} ms"
    )
    out.print(
        f"target ≥{TARGET_JOBS_PER_S:.0f} jobs/s accepted with p99 <{TARGET_P99_MS:.0f} ms "
        f"(sustained, open loop): {'met' if sustained.meets_target else 'NOT met'}"
        + (
            f"; huangpu/sbatch: {sustained.per_s / sb.per_s:.1f}× sustained, "
            f"{results[1].per_s / sb.per_s:.1f}× closed loop"
            if sb and sb.per_s
            else ""
        )
    )
    out.print(
        f"CPU during the submit phases, in cores: server {info.get('server_cpu_cores')}, "
        f"PostgreSQL {info.get('postgres_cpu_cores')}, submit client "
        f"{info.get('submit_client_cpu_cores')}, heartbeat clients "
        f"{info.get('heartbeat_client_cpu_cores')}; setup {info.get('setup_s')} s"
    )
    share = info.get("machine_cpu_share", {})
    out.print(
        f"server threads waiting for a core: {info.get('server_runqueue_wait_cores')} cores' "
        f"worth; whole machine: idle {share.get('idle', 0):.0%}, steal {share.get('steal', 0):.0%}"
    )
    out.print(f"before: {info['uptime_before']}\nafter:  {info['uptime_after']}")
    for r in results:
        if r.first_error:
            out.print(f"[yellow]{r.name}: first error: {r.first_error}[/yellow]")


if __name__ == "__main__":
    sys.exit(main())
