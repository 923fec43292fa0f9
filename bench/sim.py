"""Simulator speed: Gavel's continuous-single experiment (36 V100 / 36 P100 / 36 K80, seed 0,
5.6 jobs/h, average JCT of jobs 4000–5000), as Gavel's own simulator ran it here: 293 s of wall
time for its heterogeneity-aware policy (``max-min-fairness`` here, the default, with Gavel's
JCT) and 819 s for the agnostic one (``max-min-share``). Target: under 30 s, 10× faster. Not
a timed test.

    .venv/bin/python bench/sim.py [--data ../shared/data/traces] [--policy max-min-fairness]
                                  [--rate 5.6] [--seed 0] [--json]

Prints wall and CPU seconds (the CPU figure is what to compare on a shared machine), events
per second, and the speed-up over Gavel's recorded time for the same experiment.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from huangpu.sim.engine import SimConfig, simulate
from huangpu.sim.gavel import continuous_trace
from huangpu.sim.metrics import summarise
from huangpu.sim.presets import GAVEL_ROUND_S

# Gavel's own simulator on this experiment, run here alone (issue 6): wall seconds.
GAVEL_HETERO_S = 293.0
GAVEL_AGNOSTIC_S = 819.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/traces"))
    ap.add_argument("--policy", default="max-min-fairness")
    ap.add_argument("--rate", type=float, default=5.6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    trace = continuous_trace(a.data / "gavel", a.rate, a.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(trace, SimConfig(a.policy, round_s=GAVEL_ROUND_S))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    m = summarise(result)
    out = {
        "experiment": f"gavel-continuous rate={a.rate} seed={a.seed}",
        "policy": a.policy,
        "jobs_generated": m["jobs_arrived"],
        "avg_jct_h_4000_5000": round(m["jct_avg_h"], 3),
        "events": result.events,
        "cycles": result.cycles,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "events_per_s": round(result.events / wall),
        "cycles_per_s": round(result.cycles / wall),
    }
    if (a.rate, a.seed) == (5.6, 0):
        gavel = GAVEL_AGNOSTIC_S if a.policy == "max-min-share" else GAVEL_HETERO_S
        out["gavel_wall_s"] = gavel
        out["speedup_vs_gavel"] = round(gavel / wall, 1)
    print(json.dumps(out) if a.json else "\n".join(f"{k:>20}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
