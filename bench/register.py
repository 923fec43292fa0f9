"""Agent registration at city scale: N agents of one node each join one pool, each in its own
transaction, as `POST /v1/agents/register` does it. Prints the time per quarter, so growth
with the pool's size shows (flat: linear; rising: each registration reads the pool).

    .venv/bin/python bench/register.py [--agents 3000] [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from huangpu.core.domain import Device, Node
from huangpu.store import registry
from huangpu.store.db import connect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=3000)
    ap.add_argument("--database-url", default="")
    a = ap.parse_args()
    url = a.database_url or f"sqlite:///{tempfile.mkdtemp()}/register.db"
    db = connect(url)
    with db.write() as s:
        registry.create_supplier(s, "bench-supplier", 0.0)
        pool = registry.create_pool(s, "bench-pool", "bench-supplier", "sh", "local", 0.0).id
    quarter = max(a.agents // 4, 1)
    started = last = time.perf_counter()
    for i in range(a.agents):
        node = Node(name=f"n{i}", devices=[Device(index=0, chip="h100", memory_gib=80)])
        with db.write() as s:
            registry.upsert_agent(s, pool, f"agent-{i}", "local", [node], 1.0)
        if (i + 1) % quarter == 0:
            now = time.perf_counter()
            print(f"agents {i + 1 - quarter + 1:>6}–{i + 1:<6} {now - last:6.2f} s")
            last = now
    total = time.perf_counter() - started
    print(f"{a.agents} agents in {total:.2f} s: {a.agents / total:.0f} registrations/s")
    db.dispose()


if __name__ == "__main__":
    main()
