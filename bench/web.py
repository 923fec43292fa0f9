"""The wall at city scale: time to first paint, and SSE lag under 1 Hz updates.

Seeds a fresh SQLite store directly with Core inserts (no API round trips): 12 suppliers,
40 pools, 10,000 nodes with 80,000 accelerators, 300 orgs, 100,000 jobs (6,000 running on
48,000 allocated devices, 4,000 queued, the rest finished) with 200,000 state-history rows,
and 24 h of utilisation samples. Then starts a real ``huangpu server`` on that store and
drives Debian's Chromium through Playwright:

- first paint: a fresh browser context loads /wall at 1920×1080; we read the browser's own
  first-contentful-paint and the moment the page's script has drawn the data (window.__wall);
- SSE lag: once a second for N seconds a new job event is written straight into the store;
  we time how long until that job shows in the wall's ticker, in the same page, no reload.

    .venv/bin/python bench/web.py              # full data set
    .venv/bin/python bench/web.py --nodes 1000 --jobs 10000 --updates 10   # quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from huangpu.api.wall import WallHub
from huangpu.core.clock import SystemClock
from huangpu.core.ids import new_id
from huangpu.store import models as m
from huangpu.store.db import Database, connect
from huangpu.testing.processes import ServerProcess

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SUPPLIERS = {
    "sh-telecom": ["a100", "h800", "910b2"],
    "china-mobile-sh": ["h20", "910b2", "a800"],
    "unicom-lingang": ["910c", "910b3"],
    "lingang-ascend": ["910b2", "910c", "910b4"],
    "cambricon-xuhui": ["mlu590", "mlu370"],
    "hygon-minhang": ["k100-ai", "k100"],
    "metax-pudong": ["c500"],
    "biren-zhangjiang": ["br104", "br100"],
    "moore-songjiang": ["s5000", "s4000"],
    "kunlun-baidu-sh": ["p800", "r200"],
    "sjtu-hpc": ["a100", "h100", "l40s"],
    "fudan-ai-center": ["h100", "910b2"],
}
KINDS = ["train", "finetune", "batch-infer", "serve"]
DEVICES_PER_NODE = 8


def seed(db: Database, nodes: int, jobs: int, seed_value: int = 8) -> dict[str, int]:
    rng = random.Random(seed_value)
    now = time.time()
    pools: list[tuple[str, str, str]] = []  # (pool id, supplier id, chip)
    supplier_rows, pool_rows, agent_rows = [], [], []
    for sname in SUPPLIERS:
        sid = new_id("sup")
        supplier_rows.append({"id": sid, "name": sname, "created_at": now - 90 * 86400})
    pool_specs = []
    for (sname, chips), sup in zip(SUPPLIERS.items(), supplier_rows, strict=True):
        for chip in chips:
            pool_specs.append((sname, sup["id"], chip))
    while len(pool_specs) < 40:  # the big suppliers run a second site
        sname, sid, chip = pool_specs[len(pool_specs) % 12]
        pool_specs.append((sname, sid, chip))
    for i, (sname, sid, chip) in enumerate(pool_specs[:40]):
        pid = new_id("pool")
        pool_rows.append(
            {
                "id": pid,
                "name": f"{sname}-{chip}-{i:02d}",
                "supplier_id": sid,
                "region": "cn-shanghai",
                "executor": "slurm" if i % 3 else "kubernetes",
                "created_at": now - 60 * 86400 + i,
            }
        )
        agent_rows.append(
            {
                "id": new_id("agent"),
                "pool_id": pid,
                "name": f"agent-{i:02d}",
                "executor": "slurm",
                "last_seen": now,
                "last_seq": 0,
                "registered_at": now - 30 * 86400,
            }
        )
        pools.append((pid, sid, chip))
    node_rows, device_rows = [], []
    devices_by_pool: dict[str, list[str]] = {p[0]: [] for p in pools}
    for n in range(nodes):
        pid, _sid, chip = pools[n % len(pools)]
        agent = agent_rows[n % len(pools)]["id"]
        nid = new_id("node")
        node_rows.append(
            {"id": nid, "pool_id": pid, "agent_id": agent, "name": f"n{n:05d}", "domain": "d0"}
        )
        for d in range(DEVICES_PER_NODE):
            did = new_id("dev")
            device_rows.append(
                {
                    "id": did,
                    "node_id": nid,
                    "pool_id": pid,
                    "idx": d,
                    "chip": chip,
                    "memory_gib": 64.0,
                    "healthy": True,
                }
            )
            devices_by_pool[pid].append(did)
    org_rows = [
        {"id": new_id("org"), "name": f"org-{i:03d}", "category": "startup", "created_at": now}
        for i in range(300)
    ]
    running = min(jobs // 16, int(nodes * DEVICES_PER_NODE * 0.6) // DEVICES_PER_NODE)
    queued = jobs // 25
    job_rows, event_rows, alloc_rows = [], [], []
    free = {p: list(ids) for p, ids in devices_by_pool.items()}
    pool_ids = [p[0] for p in pools]
    for j in range(jobs):
        jid = new_id("job")
        created = now - rng.uniform(0, 30 * 86400) if j >= running + queued else now - 600
        kind = rng.choice(KINDS)
        pool_id = None
        if j < running:
            state = "RUNNING"
            pool_id = rng.choice(pool_ids)
            take = free[pool_id][:DEVICES_PER_NODE]
            if len(take) < DEVICES_PER_NODE:
                pool_id = max(free, key=lambda p: len(free[p]))
                take = free[pool_id][:DEVICES_PER_NODE]
            free[pool_id] = free[pool_id][DEVICES_PER_NODE:]
            alloc_rows += [{"device_id": d, "job_id": jid, "attempt": 1} for d in take]
        elif j < running + queued:
            state = "PENDING"
        else:
            state = rng.choices(["SUCCEEDED", "FAILED", "CANCELLED"], [90, 6, 4])[0]
            pool_id = rng.choice(pool_ids)
        job_rows.append(
            {
                "id": jid,
                "org_id": org_rows[j % len(org_rows)]["id"],
                "name": f"job-{j}",
                "kind": kind,
                "spec": {"name": f"job-{j}", "kind": kind, "command": "python train.py"},
                "state": state,
                "priority": 0,
                "pool_id": pool_id,
                "agent_id": None,
                "attempt": 1 if pool_id else 0,
                "lease_expires_at": None,
                "cancel_requested": False,
                "engine_id": None,
                "exit_code": None,
                "reason": "waiting for 8 free accelerators" if state == "PENDING" else None,
                "log_size": 0,
                "created_at": created,
                "updated_at": created + 60,
            }
        )
        event_rows.append(
            {
                "job_id": jid,
                "from_state": None,
                "to_state": "PENDING",
                "attempt": 0,
                "at": created,
                "reason": "submitted",
            }
        )
        if state != "PENDING":
            prev = "STARTING" if state == "RUNNING" else "RUNNING"
            event_rows.append(
                {
                    "job_id": jid,
                    "from_state": prev,
                    "to_state": state,
                    "attempt": 1,
                    "at": created + 60,
                    "reason": None,
                }
            )
    # 24 h of 5-minute samples with a day curve, so the chart has a history.
    util_rows = []
    sizes = {p: len(ids) for p, ids in devices_by_pool.items()}
    for k in range(288):
        at = now - 86400 + k * 300
        hour = (time.localtime(at).tm_hour + time.localtime(at).tm_min / 60) % 24
        base = 0.45 + 0.35 * max(0.0, 1 - abs(hour - 15) / 9)
        for p, size in sizes.items():
            u = min(1.0, max(0.0, base + rng.uniform(-0.08, 0.08)))
            util_rows.append({"at": at, "pool_id": p, "in_use": int(size * u), "total": size})
    events_sorted = sorted(event_rows, key=lambda e: e["at"])
    with db.write() as s:
        for model, rows in (
            (m.SupplierRow, supplier_rows),
            (m.PoolRow, pool_rows),
            (m.AgentRow, agent_rows),
            (m.NodeRow, node_rows),
            (m.DeviceRow, device_rows),
            (m.OrgRow, org_rows),
            (m.JobRow, job_rows),
            (m.JobEventRow, events_sorted),
            (m.AllocationRow, alloc_rows),
            (m.UtilSampleRow, util_rows),
        ):
            for i in range(0, len(rows), 5000):
                s.execute(insert(model), rows[i : i + 5000])
    return {
        "pools": len(pool_rows),
        "nodes": len(node_rows),
        "devices": len(device_rows),
        "jobs": len(job_rows),
        "job_events": len(event_rows),
        "running": running,
        "allocations": len(alloc_rows),
        "org_ids": 0,
    } | {"_org": org_rows[0]["id"], "_agents": [a["id"] for a in agent_rows]}  # type: ignore[dict-item]


def write_update(db: Database, org_id: str, n: int) -> str:
    """One state change as the scheduler would write it: a new job and its history row."""
    now = time.time()
    jid = new_id("job")
    with db.write() as s:
        s.execute(
            insert(m.JobRow),
            [
                {
                    "id": jid,
                    "org_id": org_id,
                    "name": f"bench-live-{n}",
                    "kind": "train",
                    "spec": {},
                    "state": "PENDING",
                    "priority": 0,
                    "attempt": 0,
                    "cancel_requested": False,
                    "log_size": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        s.execute(
            insert(m.JobEventRow),
            [{"job_id": jid, "from_state": None, "to_state": "PENDING", "attempt": 0, "at": now}],
        )
    return jid


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=30, help="1 Hz updates to time")
    parser.add_argument("--loads", type=int, default=5, help="first-paint samples")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--chromium", default=os.environ.get("HUANGPU_CHROMIUM"))
    args = parser.parse_args(argv)
    chromium = args.chromium or shutil.which("chromium")
    if not chromium:
        print("bench/web.py needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="huangpu-bench-web-"))
    db = connect(f"sqlite:///{home / 'huangpu.db'}")
    t0 = time.perf_counter()
    info = seed(db, args.nodes, args.jobs)
    seed_s = time.perf_counter() - t0
    org_id = info.pop("_org")
    agent_ids = info.pop("_agents")
    info.pop("org_ids")
    hub = WallHub(db, SystemClock(), lease_seconds=20)
    refresh = []
    for _ in range(5):
        t = time.perf_counter()
        hub.refresh()
        refresh.append(time.perf_counter() - t)
    db_size = (home / "huangpu.db").stat().st_size
    server = ServerProcess(home=home)
    server.start()
    try:
        results = run_browser(server, db, org_id, agent_ids, chromium, args)
    finally:
        server.stop()
        db.dispose()
        shutil.rmtree(home, ignore_errors=True)
    fcp, drawn, lags, missed, html_bytes = results
    print(f"huangpu bench/web.py — {time.strftime('%Y-%m-%d')} on {platform.node()}")
    print(
        f"  machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    print(
        f"  store: SQLite, {info['pools']} pools, {info['nodes']:,} nodes, "
        f"{info['devices']:,} accelerators ({info['allocations']:,} allocated), "
        f"{info['jobs']:,} jobs, {info['job_events']:,} history rows; "
        f"{db_size / 1e6:.0f} MB, seeded in {seed_s:.1f} s"
    )
    print(
        f"  snapshot refresh (all wall aggregates, one thread for all viewers): "
        f"median {statistics.median(refresh) * 1000:.0f} ms, max {max(refresh) * 1000:.0f} ms"
    )
    print(f"  /wall HTML with the embedded snapshot: {html_bytes / 1024:.0f} KiB")
    print(
        f"  first contentful paint, 1920x1080, {len(fcp)} fresh contexts: "
        f"median {statistics.median(fcp):.0f} ms, max {max(fcp):.0f} ms (first: {fcp[0]:.0f} ms)"
    )
    print(
        f"  data drawn (KPIs, tiles, 4 charts): median {statistics.median(drawn):.0f} ms, "
        f"max {max(drawn):.0f} ms"
    )
    print(
        f"  SSE lag, store write -> visible in the ticker, {len(lags)} updates at 1 Hz: "
        f"p50 {statistics.median(lags) * 1000:.0f} ms, p95 {pct(lags, 0.95) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms; missed (>2 s): {missed}"
    )
    ok = max(fcp) < 1500 and missed == 0
    verdict = "met" if ok else "NOT met"
    print(f"  target: first paint < 1500 ms and no update later than 2 s -> {verdict}")
    return 0 if ok else 1


def run_browser(
    server: ServerProcess,
    db: Database,
    org_id: str,
    agent_ids: list[str],
    chromium: str,
    args: argparse.Namespace,
) -> tuple[list[float], list[float], list[float], int, int]:
    import httpx
    from playwright.sync_api import sync_playwright
    from sqlalchemy import update

    html_bytes = len(httpx.get(f"{server.url}/wall", timeout=30).content)
    fcp: list[float] = []
    drawn: list[float] = []
    lags: list[float] = []
    missed = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.loads):
                context = browser.new_context(viewport={"width": 1920, "height": 1080})
                page = context.new_page()
                page.goto(f"{server.url}/wall", wait_until="load")
                page.wait_for_function("window.__wall !== undefined")
                timing: dict[str, Any] = page.evaluate(
                    """() => {
                      const p = performance.getEntriesByName('first-contentful-paint')[0];
                      return { fcp: p ? p.startTime : null, drawn: window.__wall.renderedAt };
                    }"""
                )
                fcp.append(float(timing["fcp"] or timing["drawn"]))
                drawn.append(float(timing["drawn"]))
                context.close()
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.goto(f"{server.url}/wall")
            page.wait_for_function("document.getElementById('live').dataset.state === 'live'")
            for n in range(args.updates):
                tick = time.monotonic()
                with db.write() as s:  # agents keep heartbeating, as they would
                    s.execute(
                        update(m.AgentRow)
                        .where(m.AgentRow.id.in_(agent_ids))
                        .values(last_seen=time.time())
                    )
                jid = write_update(db, org_id, n)
                start = time.monotonic()
                try:
                    page.wait_for_selector(f'#ticker li[data-job="{jid}"]', timeout=2000)
                    lags.append(time.monotonic() - start)
                except Exception:
                    missed += 1
                    lags.append(2.0)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            if args.screenshot:
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.screenshot))
            context.close()
        finally:
            browser.close()
    return fcp, drawn, lags, missed, html_bytes


if __name__ == "__main__":
    raise SystemExit(main())
