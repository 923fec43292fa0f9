"""Server CPU while many agents wait in long-polls (issue 9: waiting long-polls at city scale).

One real ``huangpu server`` on SQLite (its own temp home), no scheduler. Setup registers
``--pools`` x ``--agents-per-pool`` agents; then one client process keeps one long-poll
(``POST /v1/agent/poll``, ``wait_seconds: --wait``) open for every agent, each on its own
keep-alive connection, sending the next as soon as one is answered. Once all are waiting, the
server's CPU seconds are read from /proc over ``--seconds``: nothing has work, so that CPU is
what waiting costs.

    .venv/bin/python bench/longpoll.py                     # 2,000 agents, 20 s
    .venv/bin/python bench/longpoll.py --source DIR        # the server from another checkout
                                                           # (e.g. `git archive HEAD` unpacked)

``--source`` runs ``python -m huangpu server`` with that directory as its working directory
(so its ``huangpu`` package is the one imported): the same client against old and new code.
The server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from load import Connection, address, cpu_seconds, post_bytes, register_agents, run_loop

from huangpu.testing.processes import ApiClient, ServerProcess


async def wait_loop(
    url: str, agents: list[tuple[str, str]], wait: float, warm_s: float, seconds: float, pid: int
) -> dict[str, Any]:
    host, port = address(url)
    answered = errors = 0
    took: list[float] = []
    stop = False

    async def agent(token: str, agent_id: str) -> None:
        nonlocal answered, errors
        raw = post_bytes(
            url,
            "/v1/agent/poll",
            token,
            json.dumps({"agent_id": agent_id, "wait_seconds": wait}).encode(),
        )
        conn = Connection(host, port)
        try:
            while not stop:
                sent = time.monotonic()
                try:
                    status, _ = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    await asyncio.sleep(0.5)
                    continue
                if status == 200:
                    answered += 1
                    took.append(time.monotonic() - sent)
                else:
                    errors += 1
        finally:
            conn.close()

    tasks = []
    for i, (token, agent_id) in enumerate(agents):
        tasks.append(asyncio.create_task(agent(token, agent_id)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # do not overrun the server's accept backlog
    await asyncio.sleep(warm_s)
    cpu0, t0, answered0, took0 = cpu_seconds([pid]), time.monotonic(), answered, len(took)
    await asyncio.sleep(seconds)
    cpu1, t1 = cpu_seconds([pid]), time.monotonic()
    got = {
        "server_cpu_s": round(cpu1 - cpu0, 2),
        "wall_s": round(t1 - t0, 2),
        "server_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "polls_answered": answered - answered0,
        "poll_seconds_min_median_max": [
            round(f(took[took0:]), 2) for f in (min, statistics.median, max)
        ]
        if len(took) > took0
        else [],
        "errors": errors,
    }
    stop = True
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=10)
    parser.add_argument("--agents-per-pool", type=int, default=200)
    parser.add_argument("--wait", type=float, default=10.0, help="wait_seconds of each poll")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warm", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--source", type=Path, default=None, help="checkout to run the server")
    args = parser.parse_args()
    server = ServerProcess(env={"HUANGPU_POLL_TIMEOUT_SECONDS": str(args.wait)})
    if args.source is not None:
        server.cwd = args.source.resolve()
    try:
        server.start()
        t0 = time.perf_counter()
        with ApiClient(server.url, server.operator_token, timeout=60) as api:
            api.create_supplier("lp-supplier")
            tokens = []
            for p in range(args.pools):
                api.create_pool(f"lp-pool-{p}", "lp-supplier")
                tokens.append(str(api.create_token("agent", pool=f"lp-pool-{p}")["token"]))
        agents = run_loop(register_agents(server.url, tokens, args.agents_per_pool))
        setup_s = time.perf_counter() - t0
        idle_cpu0 = cpu_seconds([server.pid])
        time.sleep(3)
        idle_cores = (cpu_seconds([server.pid]) - idle_cpu0) / 3
        got = run_loop(
            wait_loop(server.url, agents, args.wait, args.warm, args.seconds, server.pid)
        )
        got.update(
            agents=len(agents),
            wait_seconds=args.wait,
            setup_s=round(setup_s, 1),
            server_cores_with_no_polls=round(idle_cores, 3),
            source=str(args.source or "this checkout"),
            loadavg=[round(x, 2) for x in os.getloadavg()],
        )
        print(json.dumps(got, indent=2))
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
