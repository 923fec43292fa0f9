"""Scheduler benchmark: a synthetic city, one full cycle, an incremental cycle, scaling, peers.

    .venv/bin/python bench/scheduler.py                     # the issue's city: 10k nodes
    .venv/bin/python bench/scheduler.py --scaling --plot docs/img/scheduler_scaling.png

The city: 10,000 nodes of 8 accelerators (80,000) of 12 chip models in 40 pools, 4 regions,
about half the devices busy with running jobs (with expected end times, so backfill and
preemption have work to do); 10,000 pending jobs from 500 orgs in 50 cohorts (60% one device,
25% one 8-device node, 15% gangs of 2–8 nodes), with prices, vouchers, quotas, deadlines,
max prices and residency. Pure CPU: no store, no I/O inside the timed part.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from huangpu.core.catalog import load_catalog
from huangpu.scheduling import Snapshot, SnapshotBuilder, run_cycle
from huangpu.scheduling.tables import Market, Quotas
from huangpu.scheduling.throughput import normalised_compute, roofline_matrix

CHIPS = (
    "h100",
    "h800",
    "a100",
    "a800",
    "h20",
    "l40s",
    "l20",
    "rtx4090",
    "910b2",
    "910b3",
    "910c",
    "c500",
)
# Rough rent per card-hour in fen (see the shared prices.csv for sourced figures).
BASE_PRICE = (2800, 2600, 1200, 1100, 900, 700, 500, 250, 900, 800, 1600, 700)
REGIONS = ("shanghai", "beijing", "hangzhou", "singapore")
PEERS = {
    "Kueue (own perf test)": 43.0,
    "kube-scheduler (5k nodes)": 100.0,
    "Slurm controller": 500.0,
}


@dataclass
class City:
    snapshot: Snapshot
    build_s: float


def make_city(nodes: int, jobs: int, seed: int = 0, busy: float = 0.5, orgs: int = 500) -> City:
    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    models = [catalog.models[c] for c in CHIPS]
    matrix = roofline_matrix(models)
    n_pools = max(4, min(40, nodes // 250))
    pools = [f"pool-{p:02d}" for p in range(n_pools)]
    pool_chips = [rng.choice(len(CHIPS), size=rng.integers(1, 3), replace=False) for _ in pools]
    pool_region = [0 if p % 10 == 9 else int(rng.integers(0, 3)) for p in range(n_pools)]
    pool_region = [3 if p % 10 == 9 else r for p, r in enumerate(pool_region)]  # overseas
    b = SnapshotBuilder(CHIPS, pools, now=100_000.0)
    b.set_orgs([f"org-{o}" for o in range(orgs)])
    b.set_regions(REGIONS, pool_region)
    families = ("nvidia", "ascend", "metax")
    chip_family = np.array([families.index(m.family) for m in models])
    price = np.array(
        [[int(BASE_PRICE[c] * rng.uniform(0.8, 1.2)) for c in range(len(CHIPS))] for _ in pools]
    )
    subsidy = np.where(
        (rng.random((orgs, 1)) < 0.5) & (chip_family[None, :] > 0), 3000, 0
    ) + np.where(rng.random((orgs, 1)) < 0.3, 2000, 0) * (chip_family[None, :] == 0)
    ncu = normalised_compute(matrix)
    b.set_market(
        Market(matrix.classes, matrix.rates, ncu, price.astype(np.int64), subsidy.astype(np.int64))
    )
    total_ncu = nodes * 8 * float(ncu.mean())
    nominal = rng.uniform(0.5, 1.5, (orgs, 3)) * total_ncu / orgs / 3 * 2
    b.set_quotas(
        Quotas(
            families=families,
            chip_family=chip_family,
            nominal=nominal,
            borrow_limit=nominal,
            lend_limit=nominal,
            cohort=np.arange(orgs) // 10,
            blocked=rng.random(orgs) < 0.01,
            block_reason=tuple("monthly budget reached" for _ in range(orgs)),
            weight=rng.choice([1.0, 2.0, 4.0], orgs),
            decayed_usage=rng.exponential(1e6, orgs),
        )
    )
    now = 100_000.0
    node_pool = np.sort(rng.integers(0, n_pools, nodes))
    run = 0
    for n in range(nodes):
        p = int(node_pool[n])
        chip = int(rng.choice(pool_chips[p]))
        held = int(rng.binomial(8, busy))
        key = f"n{n}"
        b.add_node(p, key, chip, f"sw{n // 32}", list(range(held, 8)), models[chip].memory_gib)
        if held:
            end = now + float(rng.exponential(4 * 3600)) if rng.random() < 0.8 else np.inf
            b.add_running(
                f"r{run}",
                int(rng.integers(0, orgs)),
                int(rng.choice([0, 0, 1, -1])),
                now - float(rng.uniform(0, 7200)),
                [(key, held)],
                end,
            )
            run += 1
    for j in range(jobs):
        shape = rng.random()
        accel, nn = (
            (1, 1) if shape < 0.6 else (8, 1) if shape < 0.85 else (8, int(rng.integers(2, 9)))
        )
        kind = rng.random()
        if kind < 0.4:
            accepted = list(range(len(CHIPS)))
        elif kind < 0.7:
            fam = int(rng.integers(0, 3))
            accepted = [c for c in range(len(CHIPS)) if chip_family[c] == fam]
        else:
            accepted = sorted(rng.choice(len(CHIPS), size=3, replace=False).tolist())
        residency = int(rng.integers(0, 3)) if rng.random() < 0.1 else -1
        b.add_job(
            f"job-{j:05d}",
            accel,
            nn,
            float(rng.choice([0, 0, 40, 80])),
            accepted,
            int(rng.integers(0, orgs)),
            int(rng.choice([0, 0, 0, 1])),
            now - float(rng.uniform(0, 3600)),
            work_class=int(rng.integers(0, len(matrix.classes))),
            max_price_fen=int(rng.choice([0] * 9 + [1000])),
            deadline=now + 8 * 3600 if rng.random() < 0.1 else np.inf,
            runtime_s=float(rng.exponential(3 * 3600)) if rng.random() < 0.7 else np.nan,
            residency=residency,
        )
    t0 = time.perf_counter()
    snapshot = b.build()
    return City(snapshot, time.perf_counter() - t0)


def timed(snapshot: Snapshot, policy: str, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run_cycle(snapshot, policy)
        best = min(best, time.perf_counter() - t0)
    return best, result


def after_arrivals(
    city: Snapshot, result: object, arrivals: int, seed: int, only_new: bool = False
) -> Snapshot:
    """The next cycle's snapshot: last cycle's placements applied, ``arrivals`` new jobs.

    ``only_new``: the incremental cycle's snapshot. Nothing was freed since the last cycle, so
    the jobs that waited then cannot start now; only the arrivals are scheduled, against the
    reservation the last cycle made (carried as a snapshot input)."""
    from huangpu.scheduling import CycleResult

    assert isinstance(result, CycleResult)
    s = city
    taken: dict[str, set[int]] = {}
    for p in result.placements:
        for node, d in p.devices:
            taken.setdefault(node, set()).add(d)
    placed = {p.job_key for p in result.placements}
    rng = np.random.default_rng(seed)
    b = SnapshotBuilder(s.chips, s.pools, now=s.now + 1.0)
    b.set_orgs(s.orgs).set_regions(s.regions, s.pool_region.tolist())
    b.set_market(s.market).set_quotas(s.quotas)
    for n, key in enumerate(s.node_keys):
        free = [d for d in s.node_free_devices[n] if d not in taken.get(key, ())]
        b.add_node(
            int(s.node_pool[n]),
            key,
            int(s.node_chip[n]),
            s.domains[int(s.node_domain[n])],
            free,
            float(s.node_mem_gib[n]),
        )
    r = s.running
    for i, key in enumerate(r.keys):
        mine = r.alloc_run == i
        allocs = [
            (s.node_keys[int(n)], int(c))
            for n, c in zip(r.alloc_node[mine], r.alloc_count[mine], strict=True)
        ]
        b.add_running(
            key, int(r.org[i]), int(r.priority[i]), float(r.start[i]), allocs, float(r.end[i])
        )
    for p in result.placements:
        j = s.job_keys.index(p.job_key)
        counts: dict[str, int] = {}
        for node, _ in p.devices:
            counts[node] = counts.get(node, 0) + 1
        b.add_running(
            p.job_key, int(s.job_org[j]), int(s.job_priority[j]), s.now, list(counts.items())
        )
    for r in result.reservations if only_new else ():
        b.set_reservation(r.job_key, r.start, list(zip(r.node_keys, r.hold, strict=True)))
    rows = [j for j, key in enumerate(s.job_keys) if key not in placed and not only_new]
    for j in rows:
        b.add_job(
            s.job_keys[j],
            int(s.job_accel[j]),
            int(s.job_nodes[j]),
            float(s.job_min_mem[j]),
            np.flatnonzero(s.job_chip_mask[j]).tolist(),
            int(s.job_org[j]),
            int(s.job_priority[j]),
            float(s.job_submit[j]),
            np.flatnonzero(s.job_pool_mask[j]).tolist(),
            work_class=int(s.job_class[j]),
            max_price_fen=int(s.job_max_price[j]),
            deadline=float(s.job_deadline[j]),
            runtime_s=float(s.job_runtime[j]),
            residency=int(s.job_residency[j]),
        )
    for a in range(arrivals):
        b.add_job(
            f"new-{a:04d}",
            1 if rng.random() < 0.7 else 8,
            1,
            0.0,
            list(range(len(s.chips))),
            int(rng.integers(0, s.n_orgs)),
            0,
            s.now + 0.5,
            runtime_s=3600.0,
        )
    return b.build()


def slurm_compare(shapes: int) -> str:
    up = Path("scripts/slurm-up.sh")
    if not up.exists() or shutil.which("sbatch") is None:
        return "Slurm comparison skipped: scripts/slurm-up.sh or sbatch not present"
    env = dict(os.environ, HUANGPU_SLURM_DIR=tempfile.mkdtemp(prefix="hp-slurm-bench-", dir="/tmp"))
    env.setdefault("HUANGPU_SLURM_PORT_BASE", "27810")  # apart from the test suite's Slurm
    env["SLURM_CONF"] = env["HUANGPU_SLURM_DIR"] + "/slurm.conf"
    try:
        subprocess.run(["bash", str(up)], check=True, env=env, capture_output=True, timeout=120)
        t0 = time.perf_counter()
        for i in range(shapes):
            gres = "gpu:1" if i % 4 else "gpu:4"
            subprocess.run(
                ["sbatch", "--hold", f"--gres={gres}", "--wrap", "true", "-J", f"b{i}"],
                check=True,
                env=env,
                capture_output=True,
                timeout=30,
            )
        rate = shapes / (time.perf_counter() - t0)
        return (
            f"Slurm sbatch (local slurmctld, 1 node): {shapes} jobs of the same shapes at "
            f"{rate:.0f} jobs/s, submit + controller accept, one sbatch process each"
        )
    except (subprocess.SubprocessError, OSError) as error:
        return f"Slurm comparison skipped: {error}"
    finally:
        down = Path("scripts/slurm-down.sh")
        if down.exists():
            subprocess.run(["bash", str(down)], env=env, capture_output=True, timeout=60)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--policy", default="cost-aware")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scaling", action="store_true", help="also 1k .. 100k nodes")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--slurm-jobs", type=int, default=200)
    args = parser.parse_args()

    city = make_city(args.nodes, args.jobs, args.seed)
    s = city.snapshot
    print(s.describe(), f"running={s.running.n}", f"(built in {city.build_s * 1e3:.0f} ms)")
    seconds, result = timed(s, args.policy)
    from huangpu.scheduling import CycleResult

    assert isinstance(result, CycleResult)
    decided = len(result.placements) + len(result.pending)
    print(
        f"full cycle [{args.policy}]: {seconds * 1e3:.0f} ms, {len(result.placements)} placed, "
        f"{len(result.preemptions)} preemptions, {decided / seconds:,.0f} decisions/s"
    )
    print("  by reason:", result.stats.by_reason)
    ff_seconds, _ = timed(s, "first-fit", repeat=1)
    print(f"first-fit baseline on the same city: {ff_seconds * 1e3:.0f} ms")
    nxt = after_arrivals(s, result, 100, args.seed + 1)
    inc, inc_result = timed(nxt, args.policy)
    assert isinstance(inc_result, CycleResult)
    print(
        f"next cycle after 100 arrivals ({nxt.n_jobs} queued): {inc * 1e3:.0f} ms, "
        f"{len(inc_result.placements)} placed"
    )
    only_new = after_arrivals(s, result, 100, args.seed + 1, only_new=True)
    inc2, inc2_result = timed(only_new, args.policy)
    assert isinstance(inc2_result, CycleResult)
    print(
        f"incremental cycle, 100 arrivals only (reservation carried): {inc2 * 1e3:.0f} ms, "
        f"{len(inc2_result.placements)} placed"
    )
    for name, rate in PEERS.items():
        print(f"  vs {name}: {rate:.0f}/s -> {decided / seconds / rate:,.0f}x")
    slurm = slurm_compare(args.slurm_jobs)
    print(slurm)
    if " at " in slurm and "jobs/s" in slurm:
        rate = float(slurm.split(" at ")[1].split(" jobs/s")[0])
        print(f"  huangpu decisions/s ÷ Slurm sbatch jobs/s = {decided / seconds / rate:,.0f}x")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")

    if args.scaling:
        rows = []
        for nodes in (1_000, 3_000, 10_000, 30_000, 100_000):
            c = make_city(nodes, nodes, args.seed)
            t, r = timed(c.snapshot, args.policy, repeat=1)
            assert isinstance(r, CycleResult)
            rows.append((nodes, nodes, t))
            print(
                f"  {nodes:>7,} nodes, {nodes:>7,} jobs: {t * 1e3:7.0f} ms  "
                f"(peak RSS {peak_rss_mib():.0f} MiB)"
            )
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5, 3.2))
            ax.loglog([r[0] for r in rows], [r[2] * 1e3 for r in rows], "o-")
            ax.set_xlabel("nodes (and pending jobs)")
            ax.set_ylabel("full cycle, ms")
            ax.set_title(f"huangpu {args.policy} cycle time")
            ax.grid(True, which="both", alpha=0.3)
            fig.tight_layout()
            args.plot.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(args.plot, dpi=120)
            print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
