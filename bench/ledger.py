"""Ledger benchmark: rate and post 1,000,000 usage samples into a fresh SQLite file.

    .venv/bin/python bench/ledger.py [--samples 1000000] [--meter-every 60] [--trace DIR]

Workload: a replay of the Microsoft ITP raw trace (MIT licence, read in place from
../shared/data/traces/microsoft-itp/raw-traces; nothing is copied into the package). Every
k-th job, in submission order, is kept so that the replay spans the trace's two months (and so
crosses a month end, where metering splits lines). Each job reports one usage sample per minute
on its GPUs, priced as 910B or A100 cards in two suppliers' pools; start-ups hold a city
voucher program stacked with a district one. Trace time is replayed from 2026-10-01 (Beijing
time): every ``--meter-every`` minutes of trace time, the samples that ended are inserted
(Core executemany) and the real metering pass (``control.metering.Metering``) rates and posts
them, as the scheduler process would. Without the trace, jobs are synthesised (a note says so).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, insert, select, update

from huangpu.control.metering import Metering
from huangpu.core.clock import ManualClock
from huangpu.core.ids import new_id
from huangpu.ledger import PriceEntry, ProgramKind, VoucherProgram, month_window, seed_prices
from huangpu.store import pricing_repo, registry, voucher_repo
from huangpu.store.db import connect
from huangpu.store.ledger_models import LedgerPostingRow, LedgerTransactionRow, MeteringCursorRow
from huangpu.store.models import AgentRow, JobRow, UsageSampleRow

DEFAULT_TRACE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "traces"
DEFAULT_TRACE = DEFAULT_TRACE / "microsoft-itp" / "raw-traces"
SAMPLE_SECONDS = 60.0
ORGS = 40
START = month_window("2026-10")[0]
console = Console()


@dataclass(frozen=True)
class TraceJob:
    submit: float
    duration: float
    gpus: int


def read_trace(folder: Path) -> list[TraceJob] | None:
    files = sorted(folder.glob("cluster*.csv")) if folder.is_dir() else []
    if not files:
        return None
    jobs = []
    for path in files:
        with path.open() as handle:
            for row in csv.DictReader(handle):
                duration, gpus = float(row["duration"]), int(row["num_gpu"])
                if duration >= SAMPLE_SECONDS and gpus > 0:
                    jobs.append(TraceJob(float(row["submission_time"]), duration, gpus))
    return sorted(jobs, key=lambda j: j.submit)


def synthetic(count: int, rng: random.Random) -> list[TraceJob]:
    return sorted(
        (
            TraceJob(
                rng.uniform(0, 60 * 86_400),
                rng.expovariate(1 / 18_000) + 60,
                rng.choice([1, 1, 2, 4, 8, 16]),
            )
            for _ in range(count)
        ),
        key=lambda j: j.submit,
    )


def pick(jobs: list[TraceJob], samples: int) -> list[TraceJob]:
    """Every k-th job, k chosen so the replay has about ``samples`` samples."""
    total = sum(int(j.duration // SAMPLE_SECONDS) for j in jobs)
    stride = max(1, total // samples)
    return jobs[::stride]


def sample_rows(
    jobs: list[tuple[str, TraceJob]], agent: str, limit: int
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for job_id, job in jobs:
        start = START + job.submit
        for i in range(int(job.duration // SAMPLE_SECONDS)):
            t = start + i * SAMPLE_SECONDS
            rows.append(
                {
                    "job_id": job_id,
                    "attempt": 1,
                    "agent_id": agent,
                    "start": t,
                    "end": t + SAMPLE_SECONDS,
                    "devices": job.gpus,
                    "device_seconds": job.gpus * SAMPLE_SECONDS,
                }
            )
            if len(rows) == limit:
                return rows
    return rows


def steps(rows: list[dict[str, object]], every: float) -> Iterator[list[dict[str, object]]]:
    rows.sort(key=lambda r: r["end"])  # type: ignore[arg-type,return-value]
    i, t = 0, START + every
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j]["end"] <= t:  # type: ignore[operator]
            j += 1
        yield rows[i:j]
        i, t = j, t + every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--meter-every", type=float, default=60.0, help="minutes of trace time")
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    trace = read_trace(args.trace)
    if trace is None:
        console.print(f"[yellow]note: no trace at {args.trace}; synthesising jobs[/yellow]")
        trace = synthetic(20_000, rng)
    chosen = pick(trace, args.samples)

    folder = Path(tempfile.mkdtemp(prefix="huangpu-bench-ledger-"))
    db = connect(f"sqlite:///{folder / 'ledger.db'}")
    clock = ManualClock(START)
    prices = seed_prices()
    with db.write() as s:
        orgs = [
            registry.create_org(s, f"org-{i}", ("startup", "lab", "company")[i % 3], 0).id
            for i in range(ORGS)
        ]
        pools = []
        for supplier, pool, chip in (
            ("ascend-center", "p-910b", "910b2"),
            ("telecom", "p-a100", "a100"),
        ):
            sup = registry.create_supplier(s, supplier, 0).id
            pid = registry.create_pool(s, pool, supplier, "sh", "local", 0).id
            pricing_repo.add_price(
                s, PriceEntry(sup, pid, chip, prices[chip], START - 86_400), START - 86_400, "bench"
            )
            pools.append((sup, pid, chip))
        agent = new_id("agent")
        s.add(
            AgentRow(
                id=agent,
                pool_id=pools[0][1],
                name="bench",
                executor="local",
                last_seen=0,
                last_seq=0,
                registered_at=0,
            )
        )
        for pid, funder, rate, budget in (
            ("sh-city", "shanghai", 3000, 10**10),
            ("xuhui", "xuhui", 2000, 10**9),
        ):
            program = VoucherProgram(
                pid,
                pid,
                funder,
                ProgramKind.COMPUTE,
                rate,
                2000,
                budget,
                budget // 20,
                stack_group="shanghai",
            )
            voucher_repo.create_program(s, program, START - 3600, "bench")
            for org in orgs[::3]:
                voucher_repo.add_grant(s, program, org, START - 3600, START, "bench")
    jobs = [(new_id("job"), j) for j in chosen]
    job_rows, cursors = [], []
    for n, (job_id, job) in enumerate(jobs):
        org = orgs[n % ORGS]
        sup, pid, chip = pools[n % 2]
        job_rows.append(
            {
                "id": job_id,
                "org_id": org,
                "name": f"itp-{n}",
                "kind": "train",
                "spec": {},
                "state": "RUNNING",
                "priority": 0,
                "pool_id": pid,
                "attempt": 1,
                "cancel_requested": False,
                "log_size": 0,
                "created_at": START + job.submit,
                "updated_at": START + job.submit,
            }
        )
        cursors.append(
            {
                "job_id": job_id,
                "attempt": 1,
                "org_id": org,
                "supplier_id": sup,
                "pool_id": pid,
                "chip": chip,
                "devices": job.gpus,
                "closed": False,
            }
        )
    with db.write() as s:
        s.execute(insert(JobRow.__table__), job_rows)
        s.execute(insert(MeteringCursorRow.__table__), cursors)
    rows = sample_rows(jobs, agent, args.samples)
    console.print(
        f"replaying {len(rows):,} usage samples of {len(jobs):,} ITP jobs "
        f"(every {max(1, len(trace) // max(1, len(chosen)))}th job), metering every "
        f"{args.meter_every:g} trace minutes, into {folder / 'ledger.db'}"
    )

    metering = Metering(db, clock)
    lines = postings = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    insert_s = 0.0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} samples"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("rate and post", total=len(rows))
        for batch in steps(rows, args.meter_every * 60):
            if batch:
                t0 = time.perf_counter()
                with db.write() as s:
                    s.execute(insert(UsageSampleRow.__table__), batch)
                insert_s += time.perf_counter() - t0
            clock.advance(args.meter_every * 60)
            report = metering.run_once()
            lines, postings = lines + report.lines, postings + report.postings
            bar.advance(task, len(batch))
        with db.write() as s:  # every job ends: the final pass closes them
            s.execute(update(JobRow).values(state="SUCCEEDED"))
        report = metering.run_once()
        lines, postings = lines + report.lines, postings + report.postings
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # other load on the machine inflates wall, not this
    with db.read() as s:
        uncharged = s.scalar(select(func.count()).where(UsageSampleRow.charge_key.is_(None)))
        stored = s.scalar(select(func.count()).select_from(LedgerPostingRow))
        usage_tx = s.scalar(select(func.count()).where(LedgerTransactionRow.cause_kind == "usage"))
    assert uncharged == 0, f"{uncharged} samples left uncharged"
    console.print(
        f"[bold]{len(rows):,} samples → {lines:,} charge lines, {postings:,} postings in "
        f"{wall:.1f} s[/bold] (CPU {cpu:.1f} s; sample inserts {insert_s:.1f} s)\n"
        f"  {len(rows) / wall:,.0f} samples/s · {postings / wall:,.0f} postings/s · "
        f"{lines / wall:,.0f} lines/s; stored: {usage_tx:,} usage transactions, "
        f"{stored:,} postings"
    )
    db.dispose()


if __name__ == "__main__":
    main()
