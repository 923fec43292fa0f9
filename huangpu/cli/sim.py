"""`huangpu sim`: trace-driven what-ifs with the production scheduler and ledger.

    huangpu sim run --trace gavel-continuous:rate=5.6,seed=0 --policy las-hetero --out DIR
    huangpu sim compare las-hetero max-min-share --trace gavel-continuous:rate=4.8 --out DIR
    huangpu sim sweep --trace gavel-continuous --policy las-hetero --rate 5.6 --seed 0 --seed 1
    huangpu sim export --out history.jsonl

Traces are read from ``--data`` (default ``../shared/data/traces``, next to the checkout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from huangpu.cli.api_client import EXIT_BAD_INPUT, CliError
from huangpu.cli.output import console

app = typer.Typer(
    help="Simulate traces with the production scheduler and ledger.", no_args_is_help=True
)

TraceOpt = Annotated[
    str, typer.Option("--trace", help="trace spec, e.g. gavel-continuous:rate=5.6")
]
DataOpt = Annotated[Path, typer.Option("--data", help="folder holding gavel/, alibaba-gpu-v2023/")]
OutOpt = Annotated[Path, typer.Option("--out", help="directory for report.md, metrics.json, PNGs")]
OverheadOpt = Annotated[
    float, typer.Option("--overhead", help="checkpoint+restore seconds on preemption/migration")
]
DEFAULT_DATA = Path("../shared/data/traces")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _simulate(trace_text: str, policy: str, data: Path, overhead: float) -> Any:
    from huangpu.sim.engine import SimConfig, simulate
    from huangpu.sim.presets import TraceSpec, build
    from huangpu.sim.trace_errors import TraceError

    try:
        trace, round_s = build(TraceSpec.parse(trace_text), data)
    except (TraceError, ValueError, FileNotFoundError) as e:
        raise CliError(
            str(e), exit_code=EXIT_BAD_INPUT, hint="check --trace and --data (the traces folder)"
        ) from e
    with _progress() as bar:
        task = bar.add_task(f"{policy}", total=None, info="")

        def tick(t: float, jobs: int) -> None:
            bar.update(task, info=f"t={t / 3600:,.0f} h, {jobs:,} jobs")

        result = simulate(trace, SimConfig(policy, round_s=round_s, overhead_s=overhead), tick)
        bar.update(task, info=f"done: {result.events:,} events in {result.wall_s:.1f} s")
    return result


def run(
    trace: TraceOpt,
    policy: Annotated[str, typer.Option("--policy", help="a registered scheduling policy")],
    out: OutOpt,
    data: DataOpt = DEFAULT_DATA,
    overhead: OverheadOpt = 0.0,
) -> None:
    """Run one trace under one policy; write a Markdown report, metrics.json and plots."""
    from huangpu.sim import report

    result = _simulate(trace, policy, data, overhead)
    metrics = report.write([result], out, f"huangpu sim: {policy}")
    m = metrics["runs"][0]
    console.print(
        f"avg JCT {m['jct_avg_h']:.2f} h, p99 {m['jct_p99_h']:.2f} h, "
        f"makespan {m['makespan_h']:.1f} h; {result.events / max(result.wall_s, 1e-9):,.0f}"
        f" events/s; report: {out / 'report.md'}"
    )


def compare(
    policies: Annotated[list[str], typer.Argument(help="policies to compare on the same trace")],
    trace: TraceOpt,
    out: OutOpt,
    data: DataOpt = DEFAULT_DATA,
    overhead: OverheadOpt = 0.0,
) -> None:
    """Run the same trace under several policies and report them side by side."""
    from huangpu.sim import report

    results = [_simulate(trace, p, data, overhead) for p in policies]
    metrics = report.write(results, out, "huangpu sim compare")
    for m in metrics["runs"]:
        console.print(
            f"{m['policy']:>16}: avg JCT {m['jct_avg_h']:.2f} h, makespan {m['makespan_h']:.1f} h"
        )


def sweep(
    trace: Annotated[list[str], typer.Option("--trace", help="trace spec (repeatable)")],
    policy: Annotated[list[str], typer.Option("--policy", help="policy (repeatable)")],
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file of per-run metrics")],
    rate: Annotated[list[float] | None, typer.Option("--rate", help="jobs/h (repeatable)")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="seed (repeatable)")] = None,
    workers: Annotated[int, typer.Option("--workers", help="local processes")] = 2,
    ray_address: Annotated[
        str | None, typer.Option("--ray", help="Ray cluster address (ray:// or auto)")
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    overhead: OverheadOpt = 0.0,
) -> None:
    """Policies × rates × seeds, in parallel (local processes, or Ray when --ray is given)."""
    from huangpu.sim.sweep import grid, run_local, run_ray

    specs = grid(trace, policy, rate or [], seed or [], overhead, str(data))
    with _progress() as bar:
        task = bar.add_task("sweep", total=len(specs), info="")

        def done(_: int, spec: Any) -> None:
            bar.update(task, advance=1, info=f"{spec.policy} {spec.trace}")

        if ray_address:
            results = run_ray(specs, ray_address, done)
        else:
            results = run_local(specs, workers, done)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for r in results:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    for r in results:
        console.print(
            f"{r['spec']['policy']:>16} {r['spec']['trace']}: avg JCT {r['jct_avg_h']:.2f} h"
        )


def export(
    out: Annotated[Path, typer.Option("--out", help="JSON Lines trace to write")],
) -> None:
    """Export the platform's job history (from the store) as a huangpu-native trace."""
    from huangpu.cli.sim_export import export_store

    n = export_store(out)
    console.print(f"wrote {n} jobs to {out}")


def alloc(
    packer: Annotated[
        list[str],
        typer.Option(
            "--packer", help="fgd, fgd-balance, fgd-pack, fgd-exact, best-fit, gpu-best-fit"
        ),
    ],
    out: OutOpt,
    workload: Annotated[str, typer.Option("--workload", help="openb pod list name")] = "default",
    percent: Annotated[float, typer.Option("--percent", help="inflate to this % of GPUs")] = 130,
    seeds: Annotated[int, typer.Option("--seeds", help="seeds 42, 43, …")] = 10,
    nodes_list: Annotated[
        str, typer.Option("--nodes", help="openb node list: all (1,523 nodes) or gpu (1,213)")
    ] = "all",
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """FGD's experiment on the Alibaba trace: GPU allocation rate vs arrived load."""
    from huangpu.sim import alibaba, alibaba_alloc, plots

    unknown = [p for p in packer if p not in alibaba_alloc.PACKERS]
    if unknown:
        raise CliError(
            f"unknown packer {unknown[0]!r}",
            exit_code=EXIT_BAD_INPUT,
            hint="one of " + ", ".join(alibaba_alloc.PACKERS),
        )
    csv = data / "alibaba-gpu-v2023" / "csv"
    try:
        nodes = list(alibaba.read_nodes(csv / f"openb_node_list_{nodes_list}_node.csv"))
        pods = list(alibaba.read_pods(csv / f"openb_pod_list_{workload}.csv"))
    except (OSError, ValueError) as e:
        raise CliError(
            str(e), exit_code=EXIT_BAD_INPUT, hint="check --data, --nodes and --workload"
        ) from e
    out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows: list[dict[str, Any]] = []
    with _progress() as bar:
        for name in packer:
            runs = []
            for seed in range(42, 42 + seeds):
                task = bar.add_task(f"{name} seed {seed}", total=None, info="")

                def tick(done: int, total: int, task: Any = task) -> None:
                    bar.update(task, total=total, completed=done, info=f"{done:,} pods")

                r = alibaba_alloc.run(nodes, pods, name, percent, seed, tick)
                bar.update(
                    task,
                    total=r.pods,
                    completed=r.pods,
                    info=f"{r.pods:,} pods in {r.seconds:.1f} s = {r.pods_per_second:,.0f} "
                    f"pods/s; {r.percent_allocated[-1]:.2f}% allocated",
                )
                runs.append(r)
            n = min(len(r.percent_allocated) for r in runs)
            mean = [sum(r.percent_allocated[i] for r in runs) / len(runs) for i in range(n)]
            curves[name] = (runs[0].percent_requested[:n], mean)
            rows.append(
                {
                    "packer": name,
                    "workload": workload,
                    "nodes": len(nodes),
                    "seeds": seeds,
                    "at_100": mean[min(100, n - 1)],
                    f"at_{percent:g}": mean[-1],
                    "unallocated_gpus": sum(r.unallocated_gpus for r in runs) / len(runs),
                    "fragmented_gpus": sum(r.fragmented_gpus for r in runs) / len(runs),
                    "seconds_per_run": sum(r.seconds for r in runs) / len(runs),
                    "pods_per_second": sum(r.pods for r in runs) / sum(r.seconds for r in runs),
                    "per_seed": [
                        {
                            "seed": r.seed,
                            "at_100": r.percent_allocated[min(100, n - 1)],
                            f"at_{percent:g}": r.percent_allocated[-1],
                            "unallocated_gpus": r.unallocated_gpus,
                            "pods": r.pods,
                            "failed": r.failed,
                            "seconds": round(r.seconds, 2),
                        }
                        for r in runs
                    ],
                }
            )
    plots.allocation_vs_load(curves, out / "allocation.png")
    (out / "alloc.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "alloc_curves.json").write_text(json.dumps(curves) + "\n")
    for row in rows:
        console.print(
            f"{row['packer']:>12}: {row['at_100']:.2f}% at 100%, {row[f'at_{percent:g}']:.2f}% at "
            f"{percent:g}%, {row['unallocated_gpus']:.0f} GPUs unallocated "
            f"({row['seeds']} seeds, {row['seconds_per_run']:.1f} s and "
            f"{row['pods_per_second']:,.0f} pods/s per run)"
        )


def voucher(
    trace: TraceOpt,
    out: OutOpt,
    policy: Annotated[str, typer.Option("--policy", help="scheduling policy")] = "first-fit",
    domestic_pct: Annotated[float, typer.Option("--domestic-pct", help="% of rent")] = 30,
    other_pct: Annotated[float, typer.Option("--other-pct", help="% of rent")] = 20,
    budget_cny: Annotated[float, typer.Option("--budget-cny", help="program budget")] = 1e7,
    cap_cny: Annotated[float, typer.Option("--cap-cny", help="per-tenant cap")] = 8e6,
    data: DataOpt = DEFAULT_DATA,
) -> None:
    """Voucher what-if: the trace without and with a program; subsidy, caps, demand shift."""
    from huangpu.ledger import ProgramKind, VoucherProgram
    from huangpu.sim import voucher_whatif
    from huangpu.sim.engine import SimConfig
    from huangpu.sim.presets import TraceSpec, build

    program = VoucherProgram(
        id="what-if",
        name="what-if program",
        funder="city",
        kind=ProgramKind.COMPUTE,
        rate_bp_domestic=round(domestic_pct * 100),
        rate_bp_other=round(other_pct * 100),
        program_budget_fen=round(budget_cny * 100),
        per_tenant_cap_fen=round(cap_cny * 100),
    )
    spec = TraceSpec.parse(trace)
    round_s = build(spec, data)[1]
    result = voucher_whatif.compare(
        lambda: build(spec, data)[0], program, SimConfig(policy, round_s=round_s)
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "voucher.md").write_text(voucher_whatif.markdown(result))
    (out / "voucher.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    console.print(voucher_whatif.markdown(result))


def register(root: typer.Typer) -> None:
    app.command("voucher")(voucher)
    app.command("alloc")(alloc)
    app.command("run")(run)
    app.command("compare")(compare)
    app.command("sweep")(sweep)
    app.command("export")(export)
    root.add_typer(app, name="sim")
