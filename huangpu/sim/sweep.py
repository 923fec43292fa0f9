"""A grid of runs (policies × trace variants × seeds) on local processes, or on a Ray cluster
when an address is given (``ray`` is imported only then: ``pip install huangpu[ray]``).

Each run returns its metrics dict; the caller gets them back in grid order, so a sweep's
output does not depend on which worker finished first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huangpu.sim.billing import bill
from huangpu.sim.engine import SimConfig, simulate
from huangpu.sim.metrics import summarise
from huangpu.sim.presets import DEFAULT_DATA, TraceSpec, build


@dataclass(frozen=True, slots=True)
class RunSpec:
    trace: str  # a TraceSpec string
    policy: str
    overhead_s: float = 0.0
    data: str = str(DEFAULT_DATA)


def run_one(spec: RunSpec) -> dict[str, Any]:
    trace, round_s = build(TraceSpec.parse(spec.trace), Path(spec.data))
    result = simulate(trace, SimConfig(spec.policy, round_s=round_s, overhead_s=spec.overhead_s))
    out = summarise(result, bill(result))
    out["spec"] = {"trace": spec.trace, "policy": spec.policy, "overhead_s": spec.overhead_s}
    out["wall_s"] = result.wall_s
    return out


def grid(
    traces: Sequence[str],
    policies: Sequence[str],
    rates: Sequence[float | None],
    seeds: Sequence[int | None],
    overhead_s: float = 0.0,
    data: str = str(DEFAULT_DATA),
) -> list[RunSpec]:
    specs: list[RunSpec] = []
    for text in traces:
        base = TraceSpec.parse(text)
        for rate in list(rates) or [None]:
            for seed in list(seeds) or [None]:
                extra: dict[str, str] = {}
                if rate is not None:
                    extra["rate"] = f"{rate:g}"
                if seed is not None:
                    extra["seed"] = str(seed)
                t = str(base.with_params(**extra))
                specs.extend(RunSpec(t, p, overhead_s, data) for p in policies)
    return specs


def run_local(
    specs: Sequence[RunSpec], workers: int, done: Callable[[int, RunSpec], None] | None = None
) -> list[dict[str, Any]]:
    results: list[dict[str, Any] | None] = [None] * len(specs)
    if workers <= 1:
        for i, s in enumerate(specs):
            results[i] = run_one(s)
            if done:
                done(i, s)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_one, s): i for i, s in enumerate(specs)}
            for f in as_completed(futures):
                i = futures[f]
                results[i] = f.result()
                if done:
                    done(i, specs[i])
    return [r for r in results if r is not None]


def run_ray(
    specs: Sequence[RunSpec], address: str, done: Callable[[int, RunSpec], None] | None = None
) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the optional extra
        raise RuntimeError("--ray needs ray: pip install 'huangpu[ray]'") from e
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        remote = ray.remote(run_one)
        refs = [remote.remote(s) for s in specs]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[dict[str, Any] | None] = [None] * len(specs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            results[i] = ray.get(ready[0])
            if done:
                done(i, specs[i])
    finally:
        # a library caller keeps its process; leave no driver attached to the cluster
        ray.shutdown()
    return [r for r in results if r is not None]
