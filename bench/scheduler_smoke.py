"""Smoke benchmark: one first-fit cycle on a synthetic city. Pure CPU, no store.

.venv/bin/python bench/scheduler_smoke.py --nodes 2000 --jobs 5000
"""

from __future__ import annotations

import argparse
import random
import time

from huangpu.scheduling import SnapshotBuilder, run_cycle

CHIPS = ["a100", "h800", "910b2", "mlu590", "4090"]
MEMORY = [80.0, 80.0, 64.0, 64.0, 24.0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pools = [f"pool-{p}" for p in range(args.pools)]
    b = SnapshotBuilder(CHIPS, pools, now=1_000.0)
    for n in range(args.nodes):
        pool = rng.randrange(args.pools)
        chip = pool % len(CHIPS)  # a pool is one kind of chip, as suppliers sell them
        free = sorted(rng.sample(range(8), rng.randint(0, 8)))
        b.add_node(pool, f"node-{n}", chip, f"rack-{n // 16}", free, MEMORY[chip])
    for j in range(args.jobs):
        accepted = rng.sample(range(len(CHIPS)), rng.randint(1, 3))
        nodes = 1 if rng.random() < 0.8 else rng.choice([2, 4, 8])
        b.add_job(
            f"job-{j}",
            rng.choice([1, 2, 4, 8]),
            nodes,
            rng.choice([0, 40, 70]),
            accepted,
            rng.randrange(50),
            rng.choice([0, 0, 0, 10]),
            rng.uniform(0, 1_000),
        )
    t0 = time.perf_counter()
    snapshot = b.build()
    t1 = time.perf_counter()
    result = run_cycle(snapshot)
    t2 = time.perf_counter()
    print(snapshot.describe())
    print(f"build {1e3 * (t1 - t0):.0f} ms, cycle {1e3 * (t2 - t1):.0f} ms")
    print(result.stats)


if __name__ == "__main__":
    main()
