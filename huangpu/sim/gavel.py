"""Gavel's set-up (Narayanan et al., "Heterogeneity-Aware Cluster Scheduling Policies for Deep
Learning Workloads", OSDI '20; code: github.com/stanford-futuredata/gavel, MIT licence).

- ``load_matrix``: ``simulation_throughputs.json`` → a ``ThroughputMatrix``. A job of scale
  factor k is its own workload class, ``"<model> x<k>"``, with the per-accelerator rate
  (Gavel's rate for the k-worker job ÷ k); scale factor 1 keeps the model's name.
- ``continuous_trace``: Gavel's continuous-arrival experiments. By default
  (``generator="gavel"``) the jobs and arrivals are Gavel's own for the seed (``gavel_draws``,
  below, with Poisson gaps). ``generator="numpy"`` keeps our earlier port of Gavel's
  ``generate_job`` on our own streams
  (``scheduler/utils.py``): Poisson arrivals at ``jobs_per_hour``; a duration from
  ``_generate_duration`` (80% 10^U(1.5, 3) minutes, 20% 10^U(3, 4) minutes, "the Philly
  distribution") or, with ``durations_csv``, sampled from ``philly_job_distribution.csv``;
  the model uniformly from the job table (every model with a scale-factor-1 rate); for
  multi-GPU runs the scale factor from ``_generate_scale_factor`` (70% 1, 10% 2, 15% 4, 5% 8).
  A job's work is its duration × its rate on the reference chip (V100), as Gavel sets
  ``num_steps``. Every job is its own tenant, as every job is its own entity in Gavel's
  fairness policies.
- ``static_trace``: Gavel's makespan experiment. ``gavel_draws`` ports the sequence of
  ``random.Random`` calls of Gavel's simulator, so seed s gives the very jobs Gavel's seed s
  gave (scale factor, duration, model, and arrival time in continuous runs); the static
  trace puts them all at time zero, on 1-GPU servers as in Gavel's static sweep.
- ``read_trace``: Gavel's ``.trace`` files (tab-separated; 10 fields in ``physical_cluster``,
  7 in the older ``msr`` traces).

Files are read at run time from the data folder given on the command line; nothing of Gavel's
is copied into the package.
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.trace_errors import TraceError
from huangpu.sim.world import World, parse_cluster_spec

REFERENCE_CHIP = "v100"
GAVEL_CHIPS = ("v100", "p100", "k80")


def class_name(model: str, scale_factor: int) -> str:
    return model if scale_factor == 1 else f"{model} x{scale_factor}"


def load_matrix(path: Path) -> ThroughputMatrix:
    """Isolated rates (steps/s per accelerator) for every (model, scale factor) and chip."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise TraceError(path, e.lineno, f"not valid JSON: {e.msg}") from e
    chips = [c for c in data if not c.endswith("_unconsolidated")]
    rates: dict[str, dict[str, float]] = {}
    for chip in chips:
        if not isinstance(data[chip], dict):
            raise TraceError(path, 0, f"chip {chip!r} should map job keys to rates")
        for key, cell in data[chip].items():
            try:
                model, scale = ast.literal_eval(key)
                rate = float(cell["null"])
            except (ValueError, SyntaxError, TypeError, KeyError) as e:
                raise TraceError(path, 0, f"chip {chip!r}, job {key!r}: {e}") from e
            rates.setdefault(class_name(str(model), int(scale)), {})[chip] = rate / int(scale)
    classes = tuple(sorted(rates))
    matrix = np.array([[rates[c].get(chip, 0.0) for chip in chips] for c in classes])
    return ThroughputMatrix(
        classes, tuple(chips), matrix, tuple(("profile",) * len(chips) for _ in classes)
    )


def runs_on(matrix: ThroughputMatrix, cls: str) -> tuple[str, ...]:
    """The chips Gavel measured this job on (a 0 rate means it never ran there, e.g. 8-worker
    jobs on K80s); empty when it runs everywhere."""
    row = matrix.rates[matrix.classes.index(cls)]
    if bool((row > 0).all()):
        return ()
    return tuple(c for c, r in zip(matrix.chips, row.tolist(), strict=True) if r > 0)


def job_table(matrix: ThroughputMatrix) -> tuple[str, ...]:
    """Gavel's JobTable: the models with a single-worker rate (26 in Gavel's file)."""
    return tuple(c for c in matrix.classes if " x" not in c.rsplit(")", 1)[-1])


def _gavel_duration(rng: np.random.Generator) -> float:
    # Gavel's _generate_duration: seconds.
    if rng.random() >= 0.8:
        return 60 * 10 ** rng.uniform(3, 4)
    return 60 * 10 ** rng.uniform(1.5, 3)


def _gavel_scale_factor(rng: np.random.Generator) -> int:
    # Gavel's _generate_scale_factor (continuous and static multi-GPU experiments).
    r = rng.uniform(0, 1)
    if 0.7 <= r <= 0.8:
        return 2
    if 0.8 <= r <= 0.95:
        return 4
    if r >= 0.95:
        return 8
    return 1


def read_philly_durations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``duration_s,num_gpus`` rows of ``philly_job_distribution.csv``, checked line by line."""
    durations: list[float] = []
    gpus: list[int] = []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["duration_s", "num_gpus"]:
            raise TraceError(path, 1, f"expected header duration_s,num_gpus, got {header}")
        for row in reader:
            line = reader.line_num
            try:
                d, g = float(row[0]), int(float(row[1]))
            except (IndexError, ValueError) as e:
                raise TraceError(path, line, f"bad row {row}: {e}") from e
            if not (d > 0 and math.isfinite(d)) or g < 1:
                raise TraceError(path, line, f"duration must be > 0 and gpus ≥ 1, got {row}")
            durations.append(d)
            gpus.append(g)
    return np.array(durations), np.array(gpus)


def _jobs(
    matrix: ThroughputMatrix,
    seed: int,
    jobs_per_hour: float,
    multi_gpu: bool,
    durations_csv: Path | None,
    limit: int,
    devices_per_node: int,
) -> Iterator[SimJob]:
    # Separate streams, as Gavel seeds separate generators, so arrivals do not shift when the
    # duration source changes.
    arrivals, kinds = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    sizes, lengths = np.random.default_rng([seed, 3]), np.random.default_rng([seed, 4])
    table = job_table(matrix)
    distributed = tuple(m for m in table if class_name(m, 2) in matrix.classes)
    philly = read_philly_durations(durations_csv) if durations_csv else None
    t, i = 0.0, 0
    while not limit or i < limit:
        sf = _gavel_scale_factor(sizes) if multi_gpu else 1
        pool = table if sf == 1 else distributed
        model = pool[int(kinds.integers(len(pool)))]
        if philly is None:
            duration = _gavel_duration(lengths)
        else:
            duration = float(philly[0][int(lengths.integers(len(philly[0])))])
        yield _sim_job(matrix, i, t, model, sf, duration, devices_per_node)
        i += 1
        if jobs_per_hour > 0:
            t += float(arrivals.exponential(3600.0 / jobs_per_hour))


def continuous_trace(
    data_dir: Path,
    jobs_per_hour: float,
    seed: int = 0,
    cluster: str = "v100=36,p100=36,k80=36",
    window: tuple[int, int] = (4000, 5000),
    multi_gpu: bool = False,
    philly_csv: bool = False,
    generator: str = "gavel",
) -> Trace:
    """Gavel's continuous-single (or -multiple) experiment: arrivals until the window is done.

    ``generator="gavel"`` (default) draws Gavel's very arrivals, durations and models for the
    seed (``gavel_draws`` with Poisson gaps: ``run_sweep_continuous.py`` passes its seed to
    the ``Scheduler``, whose ``_initialize_seeds`` makes the same two streams as in the static
    sweep); ``"numpy"`` keeps the earlier draw from our own streams (the only one that can
    sample durations from ``philly_job_distribution.csv``, which Gavel's generator does not).
    Servers have 4 GPUs, so multi-GPU jobs (``multi_gpu``) gang whole servers beyond 4.
    """
    matrix = load_matrix(data_dir / "simulation_throughputs.json")
    world = parse_cluster_spec(cluster)
    if generator == "gavel":
        if philly_csv:
            raise ValueError("generator=gavel draws Gavel's durations: use generator=numpy")
        jobs = gavel_jobs(matrix, seed, 0, 4, multi_gpu, jobs_per_hour)
    elif generator == "numpy":
        csv_path = data_dir / "philly_job_distribution.csv" if philly_csv else None
        jobs = _jobs(matrix, seed, jobs_per_hour, multi_gpu, csv_path, 0, 4)
    else:
        raise ValueError(f"unknown generator {generator!r}: use gavel or numpy")
    name = f"gavel-continuous(rate={jobs_per_hour:g}/h, seed={seed})"
    return Trace(
        name,
        world,
        matrix,
        jobs,
        window=window,
        stop_after_window=True,
        meta={
            "cluster": cluster,
            "seed": str(seed),
            "rate": str(jobs_per_hour),
            "generator": generator,
        },
    )


# The order of Gavel's ``JobTable`` (``scheduler/job_table.py``): ``rng.choice(JobTable)``
# draws an index into it, so this order is part of what a Gavel seed means. A throughput file
# without these models falls back to its own order of single-worker entries.
GAVEL_JOB_TABLE: tuple[str, ...] = (
    *(f"ResNet-18 (batch size {b})" for b in (16, 32, 64, 128, 256)),
    *(f"ResNet-50 (batch size {b})" for b in (16, 32, 64, 128)),
    *(f"Transformer (batch size {b})" for b in (16, 32, 64, 128, 256)),
    *(f"LM (batch size {b})" for b in (5, 10, 20, 40, 80)),
    *(f"Recommendation (batch size {b})" for b in (512, 1024, 2048, 4096, 8192)),
    "A3C",
    "CycleGAN",
)


def gavel_table(matrix: ThroughputMatrix) -> tuple[str, ...]:
    """The job table in Gavel's order when the matrix has exactly Gavel's models."""
    table = job_table(matrix)
    return GAVEL_JOB_TABLE if set(table) == set(GAVEL_JOB_TABLE) else table


def gavel_draws(
    matrix: ThroughputMatrix, seed: int, n_jobs: int, multi_gpu: bool = True,
    jobs_per_hour: float = 0.0,
) -> Iterator[tuple[float, str, int, float]]:  # fmt: skip
    """(arrival s, model, scale factor, duration s) per job, drawn exactly as Gavel's
    simulator draws them, so a seed here is Gavel's seed.

    Gavel (``scheduler/scheduler.py``: ``_initialize_seeds``, ``_generate_job``, ``simulate``;
    ``scheduler/utils.py``: ``generate_job``, ``_generate_scale_factor``,
    ``_generate_duration``) keeps one ``random.Random(seed + 2)`` for jobs and one
    ``random.Random(seed + 3)`` for inter-arrival times. Per job, from the job stream: a
    uniform draw for the scale factor (always drawn, then forced to 1 unless multi-GPU jobs
    are asked for), a draw choosing the duration branch and a uniform exponent (10^U(1.5, 3)
    or, one time in five, 10^U(3, 4) minutes), then models drawn uniformly from the job
    table until one can run at that scale factor. A static trace (``lam = 0``, the makespan
    sweep ``scripts/sweeps/run_sweep_static.py``) puts every job at t = 0 and never touches
    the arrival stream; a continuous one adds ``-ln(1 - U) · 3600 / rate`` after each job.
    Python's ``random.Random`` sequence is stable across versions, so the jobs are Gavel's.
    """
    jobs = random.Random(seed + 2)
    gaps = random.Random(seed + 3)
    table = gavel_table(matrix)
    ref = matrix.chips.index(REFERENCE_CHIP)
    t = 0.0
    for _ in range(n_jobs) if n_jobs else itertools.count():
        u = jobs.uniform(0, 1)
        scale = 2 if 0.7 <= u <= 0.8 else 4 if 0.8 <= u <= 0.95 else 8 if u >= 0.95 else 1
        if not multi_gpu:
            scale = 1
        if jobs.random() >= 0.8:
            duration = 60 * 10 ** jobs.uniform(3, 4)
        else:
            duration = 60 * 10 ** jobs.uniform(1.5, 3)
        while True:
            model = jobs.choice(table)
            cls = class_name(model, scale)
            if scale == 1 or (
                cls in matrix.classes and matrix.rates[matrix.classes.index(cls), ref] > 0
            ):
                break
        yield t, model, scale, duration
        if jobs_per_hour > 0:
            t += -math.log(1.0 - gaps.random()) * 3600.0 / jobs_per_hour


def gavel_jobs(
    matrix: ThroughputMatrix, seed: int, n_jobs: int, gpus_per_server: int = 1,
    multi_gpu: bool = True, jobs_per_hour: float = 0.0,
) -> Iterator[SimJob]:  # fmt: skip
    """``gavel_draws`` as jobs: work = duration × the whole job's V100 rate (Gavel's
    ``num_steps``); a job wider than a server is a gang of whole servers."""
    draws = gavel_draws(matrix, seed, n_jobs, multi_gpu, jobs_per_hour)
    for i, (t, model, scale, duration) in enumerate(draws):
        yield _sim_job(matrix, i, t, model, scale, duration, gpus_per_server)


def _sim_job(
    matrix: ThroughputMatrix, i: int, t: float, model: str, scale: int, duration: float,
    per_server: int,
) -> SimJob:  # fmt: skip
    """Job ``i``: work = duration × the whole job's V100 rate (Gavel's ``num_steps``); a job
    wider than a server is a gang of whole servers."""
    cls = class_name(model, scale)
    ref = matrix.chips.index(REFERENCE_CHIP)
    rate = float(matrix.rates[matrix.classes.index(cls), ref]) * scale
    nodes = max(1, scale // per_server)
    return SimJob(
        key=f"job-{i:06d}",
        org=f"job-{i:06d}",
        submit=t,
        work_class=cls,
        work=duration * rate,
        accel=scale // nodes,
        nodes=nodes,
        chips=runs_on(matrix, cls),
    )


def static_trace(
    data_dir: Path, n_jobs: int, seed: int = 0, cluster: str = "v100=36,p100=36,k80=36",
    gpus_per_server: int = 1, generator: str = "gavel",
) -> Trace:  # fmt: skip
    """Gavel's makespan experiment: ``n_jobs`` multi-GPU jobs, all at time zero.

    ``generator="gavel"`` (default) draws Gavel's very jobs for the seed (``gavel_draws``);
    ``"numpy"`` keeps the earlier draw from our own streams. ``gpus_per_server`` defaults to
    1, the default of Gavel's static sweep (``--num_gpus_per_server 1:1:1``); its simulator
    gives a multi-GPU job its consolidated rate wherever its workers are.
    """
    matrix = load_matrix(data_dir / "simulation_throughputs.json")
    world = parse_cluster_spec(cluster, gpus_per_server)
    if generator == "gavel":
        jobs = gavel_jobs(matrix, seed, n_jobs, gpus_per_server)
    elif generator == "numpy":
        jobs = _jobs(matrix, seed, 0.0, True, None, n_jobs, gpus_per_server)
    else:
        raise ValueError(f"unknown generator {generator!r}: use gavel or numpy")
    return Trace(
        f"gavel-static(n={n_jobs}, seed={seed})",
        world,
        matrix,
        jobs,
        meta={
            "cluster": cluster,
            "seed": str(seed),
            "jobs": str(n_jobs),
            "generator": generator,
            "gpus_per_server": str(gpus_per_server),
        },
    )


def read_trace(path: Path, matrix: ThroughputMatrix) -> Iterator[SimJob]:
    """Gavel ``.trace`` rows → jobs; a malformed row raises ``TraceError`` with its line."""
    with path.open() as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                if len(fields) == 10:
                    model, steps, sf, arrival = fields[0], fields[5], fields[6], fields[9]
                elif len(fields) == 7:
                    model, steps, arrival, sf = fields[0], fields[4], fields[5], fields[6]
                else:
                    raise ValueError(f"expected 10 (or 7) tab-separated fields, got {len(fields)}")
                scale, total = int(sf), float(steps)
                submit = float(arrival)
            except ValueError as e:
                raise TraceError(path, line_no, str(e)) from e
            cls = class_name(model, scale)
            if cls not in matrix.classes:
                raise TraceError(path, line_no, f"job type {cls!r} is not in the throughput file")
            if total <= 0 or scale < 1 or submit < 0:
                raise TraceError(path, line_no, "steps and scale factor must be > 0, arrival ≥ 0")
            nodes = max(1, scale // 4)
            yield SimJob(
                key=f"{path.stem}-{line_no}",
                org=f"{path.stem}-{line_no}",
                submit=submit,
                work_class=cls,
                work=total,
                accel=scale // nodes,
                nodes=nodes,
                chips=runs_on(matrix, cls),
            )


def file_trace(data_dir: Path, trace_path: Path, cluster: str) -> Trace:
    matrix = load_matrix(data_dir / "simulation_throughputs.json")
    world: World = parse_cluster_spec(cluster)
    jobs = sorted(read_trace(trace_path, matrix), key=lambda j: j.submit)
    return Trace(f"gavel-trace({trace_path.name})", world, matrix, iter(jobs))
