"""Dispatch onto Slurm: huangpu (API -> scheduler -> agent -> slurmrestd) vs plain ``sbatch``.

Both runs go to the same real single-host Slurm (scripts/slurm-up.sh: 8 count-only NPUs, 2
CPUs) with the same N jobs (default 1,000), each ``true`` on one NPU. This Slurm executes only
~2 jobs/s, so running 1,000 jobs to the end would take ~8 minutes per side. Instead each side
gets the same bounded window W (default 60 s) from its first submission, with the whole
queue of N submitted up front, and we measure from Slurm's own records (``squeue -t all``):

- accept rate: jobs/s handed over (``sbatch`` returned / ``POST /v1/jobs`` answered);
- dispatch throughput: jobs Slurm *started* within the window, per second: the number that
  matters for a queue of 1,000, where Slurm's execution rate is the bottleneck;
- submit-to-running latency of the jobs started within the window (median, p95): from the
  moment the client submitted to Slurm's StartTime (one-second resolution).

Ratio = plain throughput / huangpu throughput; target < 1.20 (huangpu adds under 20%).
Jobs left at the end of each window are cancelled (scancel by name / the huangpu API).

    .venv/bin/python bench/dispatch.py [--jobs 1000] [--window 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from huangpu.testing.engines import SlurmCluster
from huangpu.testing.processes import FAST_LEASES, AgentProcess, Platform, child_env

TARGET_RATIO = 1.20


def squeue(cluster: SlurmCluster, fmt: str = "%j|%S|%T|%i") -> list[list[str]]:
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", fmt],
        env=child_env(cluster.slurm_env),
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("|") for line in done.stdout.splitlines()]


def started_in_window(
    cluster: SlurmCluster, submitted: dict[str, float], t0: float, window: float
) -> list[float]:
    """Submit-to-start latencies of our jobs whose Slurm StartTime falls within the window."""
    latencies = []
    for name, start, state, _ in squeue(cluster):
        # a PENDING job's StartTime is Slurm's estimate, not a start: a job queued in Slurm
        # (huangpu's engine backlog, or plain sbatch's queue) has not started
        if name not in submitted or start in ("N/A", "Unknown", "") or state == "PENDING":
            continue
        started = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S").timestamp()
        if started <= t0 + window:
            latencies.append(max(0.0, started - submitted[name]))
    return latencies


def cancel_named(cluster: SlurmCluster, prefix: str) -> None:
    ids = [i for name, _, state, i in squeue(cluster) if name.startswith(prefix)]
    for chunk in range(0, len(ids), 200):
        subprocess.run(
            ["scancel", *ids[chunk : chunk + 200]], env=child_env(cluster.slurm_env), check=False
        )


def summarise(
    name: str, n: int, accept_s: float, latencies: list[float], window: float
) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "side": name,
        "jobs": n,
        "accept_jobs_per_s": round(n / accept_s, 1) if accept_s else None,
        "started_in_window": len(ordered),
        "throughput_jobs_per_s": round(len(ordered) / window, 3),
        "latency_median_s": round(statistics.median(ordered), 1) if ordered else None,
        "latency_p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
    }


def run_plain(cluster: SlurmCluster, n: int, window: float, out_dir: str) -> dict[str, Any]:
    submitted: dict[str, float] = {}
    t0 = time.time()
    for i in range(n):
        name = f"bench-plain-{i}"
        submitted[name] = time.time()
        subprocess.run(
            ["sbatch", "--parsable", f"--job-name={name}", "--nodes=1", "--ntasks-per-node=1",
             "--gres=npu:1", "--export=NONE", f"--output={out_dir}/plain-%j.out", "--wrap", "true"],
            env=child_env(cluster.slurm_env), capture_output=True, check=True,
        )  # fmt: skip
    accept = time.time() - t0
    time.sleep(max(0.0, t0 + window + 2 - time.time()))
    latencies = started_in_window(cluster, submitted, t0, window)
    cancel_named(cluster, "bench-plain-")
    return summarise("plain sbatch", n, accept, latencies, window)


def run_huangpu(cluster: SlurmCluster, n: int, window: float) -> dict[str, Any]:
    plat = Platform(env={**FAST_LEASES, "HUANGPU_LEASE_SECONDS": "60"})
    plat.start()
    agent: AgentProcess | None = None
    try:
        token = plat.add_org("bench")
        plat.api.create_supplier("hpc")
        plat.api.create_pool("slurm", "hpc", executor="slurm")
        agent_token = str(plat.api.create_token("agent", pool="slurm")["token"])
        agent = AgentProcess(
            server_url=plat.url, token=agent_token, pool="slurm", inventory="1xA100",
            name="slurm-agent", env={**plat.env, **cluster.slurm_env},
        )  # fmt: skip
        at = agent.argv.index("--inventory")
        del agent.argv[at : at + 2]
        agent.argv += ["--executor", "slurm", "--slurm-rest-url", cluster.rest_url,
                       "--gres-map", "npu=910b2", "--usage-interval", "30"]  # fmt: skip
        agent.start()
        plat.api.wait_for_agent("slurm", timeout=60)
        spec = {"name": "bench", "command": "true", "resources": {"chips": ["910b2"]}}
        submitted_at: dict[str, float] = {}
        t0 = time.time()
        for _ in range(n):
            at_submit = time.time()
            job_id = plat.api.submit(spec, token=token)["id"]
            submitted_at[job_id] = at_submit
        accept = time.time() - t0
        time.sleep(max(0.0, t0 + window + 2 - time.time()))
        # the agent names each Slurm job huangpu-<job id>-a<attempt>; attempts start at 1
        submitted = {f"huangpu-{j}-a1": t for j, t in submitted_at.items()}
        latencies = started_in_window(cluster, submitted, t0, window)
        agent.stop()
        agent = None
        cancel_named(cluster, "huangpu-")
        return summarise("huangpu -> Slurm", n, accept, latencies, window)
    finally:
        if agent is not None:
            agent.stop()
        plat.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not SlurmCluster.available():
        print("bench: Slurm is not installed (see scripts/test.sh)", file=sys.stderr)
        return 1
    cluster = SlurmCluster()
    cluster.start()
    try:
        out_dir = str(cluster.dir / "bench-out")
        os.makedirs(out_dir, exist_ok=True)
        plain = run_plain(cluster, args.jobs, args.window, out_dir)
        time.sleep(5)  # let Slurm drain the cancelled jobs before the second side
        huangpu = run_huangpu(cluster, args.jobs, args.window)
    finally:
        cluster.stop()
    ratio = (
        plain["throughput_jobs_per_s"] / huangpu["throughput_jobs_per_s"]
        if huangpu["throughput_jobs_per_s"]
        else float("inf")
    )
    result = {
        "window_s": args.window,
        "plain": plain,
        "huangpu": huangpu,
        "ratio_plain_over_huangpu_throughput": round(ratio, 3),
        "target": f"< {TARGET_RATIO}",
        "met": ratio < TARGET_RATIO,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for side in (plain, huangpu):
            print("  ".join(f"{k}={v}" for k, v in side.items()))
        print(f"ratio (plain / huangpu throughput) = {ratio:.3f}  target < {TARGET_RATIO}  "
              f"{'MET' if result['met'] else 'NOT MET'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
