"""Plots for docs/results.md from `huangpu sim sweep` / `huangpu sim alloc` outputs.

    .venv/bin/python bench/sim_results.py --gavel RUNS.jsonl [...] \
        --alloc DIR/alloc_curves.json --fgd-published \
        ../shared/data/traces/alibaba-gpu-v2023/fgd_expected_results/analysis_allo_discrete.csv \
        --out docs/img

Each JSONL line is one run's metrics (with ``spec``). Gavel's curves are seed 0 only (its
notebook prints the ``seed=0`` log of each run), so ours plot seed 0 (runs of one policy and
rate without a seed are averaged). Published figures are Gavel's notebook outputs and FGD's
result files.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from huangpu.sim import plots

# Gavel, continuous_jobs notebook (36:36:36, average JCT of jobs 4000–5000, hours, seed 0).
GAVEL_AGNOSTIC = {0.4: 23.26, 4.4: 23.81, 4.8: 35.79, 5.2: 63.78, 5.6: 95.99}
GAVEL_PERF = {0.4: 17.58, 4.8: 18.97, 5.2: 22.02, 5.6: 28.96, 6.0: 41.23}


def _rate(trace: str) -> float:
    part = next(p for p in trace.split(":", 1)[1].split(",") if p.startswith("rate="))
    return float(part.split("=")[1])


def gavel(paths: list[Path], out: Path) -> None:
    by: defaultdict[tuple[str, float], list[float]] = defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            spec = r.get("spec", r)
            params = spec["trace"].partition(":")[2].split(",")
            if any(p.startswith("seed=") for p in params) and "seed=0" not in params:
                continue  # Gavel's printed figures are its seed 0: plot ours for seed 0 too
            by[(spec["policy"], _rate(spec["trace"]))].append(r["jct_avg_h"])
    series: dict[str, tuple[list[float], list[float]]] = {}
    for policy in sorted({p for p, _ in by}):
        rates = sorted(rate for p, rate in by if p == policy)
        series[f"huangpu {policy}"] = (
            rates,
            [sum(by[(policy, x)]) / len(by[(policy, x)]) for x in rates],
        )
    series["Gavel max_min_fairness (published)"] = (
        list(GAVEL_AGNOSTIC),
        list(GAVEL_AGNOSTIC.values()),
    )
    series["Gavel max_min_fairness_perf (published)"] = (
        list(GAVEL_PERF),
        list(GAVEL_PERF.values()),
    )
    plots.lines(
        series,
        "input job rate (jobs/h)",
        "average JCT, jobs 4000–5000 (h)",
        out / "gavel_continuous_jct.png",
    )


def fgd(curves: Path, published: Path, out: Path) -> None:
    ours = json.loads(curves.read_text())
    sums: defaultdict[str, list[list[float]]] = defaultdict(list)
    with published.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["workload"] == "openb_pod_list_default" and row["sc_policy"] in (
                "05-BestFit",
                "06-FGD",
            ):
                sums[row["sc_policy"][3:]].append([float(row[str(i)]) for i in range(131)])
    pub = {
        k: (list(range(131)), [sum(c) / len(c) for c in zip(*v, strict=True)])
        for k, v in sums.items()
    }
    shown = [k for k in ("best-fit", "fgd", "fgd-balance") if k in ours] or list(ours)
    plots.allocation_vs_load(
        {f"huangpu {k}": (ours[k][0], ours[k][1]) for k in shown}, out / "fgd_allocation.png", pub
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gavel", type=Path, nargs="*", default=[])
    ap.add_argument("--alloc", type=Path)
    ap.add_argument("--fgd-published", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    a = ap.parse_args()
    if a.gavel:
        gavel(a.gavel, a.out)
    if a.alloc and a.fgd_published:
        fgd(a.alloc, a.fgd_published, a.out)


if __name__ == "__main__":
    main()
