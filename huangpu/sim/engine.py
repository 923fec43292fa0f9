"""The discrete-event engine: arrivals, scheduling cycles, progress and completions.

Each cycle builds the same ``Snapshot`` the live control loop builds and calls the same
``scheduling.run_cycle``; the engine only applies the decisions. Two modes:

- event-driven (``round_s == 0``): a cycle runs whenever a job arrives or finishes; running
  jobs keep their devices, and only pending jobs are offered to the policy;
- time-sharing rounds (``round_s > 0``, Gavel's mechanism): every ``round_s`` all active jobs
  are offered and whatever the policy places runs for the next round; a job left out is
  preempted, a job placed on other nodes migrates. Both pay ``overhead_s`` (checkpoint and
  restore) during which it holds its devices but makes no progress.

Progress is vectorised: per-job state lives in numpy columns and each event advances every
running job in one pass (``_advance``), so the engine's cost per event is a few array
operations, not a Python loop over tasks (where Gavel's simulator spends its time).
"""

from __future__ import annotations

import gc
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from huangpu.core.catalog import load_catalog
from huangpu.scheduling import Snapshot, reset_solver_state, run_cycle
from huangpu.scheduling.tables import Market, Quotas
from huangpu.sim.events import EventQueue, Kind, SimClock
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.world import World

FloatArray = np.ndarray
GC_EVERY = 256  # cycles between collections of the young generations (see ``Engine.run``)
Progress = Callable[[float, int], None]


@dataclass(frozen=True, slots=True)
class SimConfig:
    policy: str
    round_s: float = 0.0  # > 0: Gavel-style time-sharing rounds of this length
    overhead_s: float = 0.0  # checkpoint + restore on preemption and migration
    sample_s: float = 3600.0  # utilisation sample period
    max_time_s: float = math.inf  # stop the clock here (jobs still running are reported so)
    max_jobs: int = 0  # stop arrivals after this many jobs (0: the whole trace)


class Segment(NamedTuple):
    """A job holding devices of one pool from ``start`` to ``end``: one usage line to bill.
    (A named tuple: a time-shared month writes about a million of them.)"""

    job: int
    pool: int
    start: float
    end: float
    devices: int


@dataclass
class SimResult:
    trace: str
    policy: str
    config: SimConfig
    world: World
    keys: list[str]
    orgs: list[str]  # per job
    kinds: list[str]
    classes: list[str]
    submit: FloatArray
    first_start: FloatArray  # nan: never started
    finish: FloatArray  # nan: not finished when the run stopped
    devices: FloatArray  # devices per job (accelerators × nodes)
    work: FloatArray
    preemptions: FloatArray
    migrations: FloatArray
    isolated_s: FloatArray  # seconds the job would take alone on its fastest accepted chip
    window: tuple[int, int] | None
    sample_t: FloatArray
    sample_busy: FloatArray  # samples × chips: devices allocated
    segments: list[Segment]
    events: int
    cycles: int
    wall_s: float
    end_time: float
    pending_reasons: dict[str, int] = field(default_factory=dict)


class _Columns:
    """Growable per-job numpy columns (capacity doubles), so arrivals stay O(1) amortised."""

    FLOAT = (
        "submit",
        "work",
        "remaining",
        "rate",
        "stall",
        "first_start",
        "finish",
        "attained",
        "isolated",
        "seg_start",  # when its current usage segment began (NaN: none open)
    )
    UNSET_NAN = ("first_start", "finish", "seg_start")
    INT = (
        "devices",
        "accel",
        "nodes",
        "cls",
        "org",
        "chip",
        "pool",
        "preempt",
        "migrate",
        "priority",
    )
    submit: Any
    work: Any
    remaining: Any
    rate: Any
    stall: Any
    first_start: Any
    finish: Any
    attained: Any
    isolated: Any
    seg_start: Any
    devices: Any
    accel: Any
    nodes: Any
    cls: Any
    org: Any
    chip: Any
    pool: Any
    preempt: Any
    migrate: Any
    priority: Any

    def __init__(self, n_chips: int, capacity: int = 1024) -> None:
        self.capacity = capacity
        for name in self.FLOAT:
            setattr(self, name, np.full(capacity, np.nan if name in self.UNSET_NAN else 0.0))
        for name in self.INT:
            setattr(self, name, np.zeros(capacity, dtype=np.int64))
        self.running = np.zeros(capacity, dtype=np.bool_)
        self.accepts = np.ones((capacity, n_chips), dtype=np.bool_)

    def grow(self) -> None:
        old, self.capacity = self.capacity, self.capacity * 2
        for name in (*self.FLOAT, *self.INT, "running"):
            column = getattr(self, name)
            fill = np.nan if name in self.UNSET_NAN else 0
            grown = np.full(self.capacity, fill, dtype=column.dtype)
            grown[:old] = column
            setattr(self, name, grown)
        accepts = np.ones((self.capacity, self.accepts.shape[1]), dtype=np.bool_)
        accepts[:old] = self.accepts
        self.accepts = accepts


class Engine:
    def __init__(self, trace: Trace, config: SimConfig) -> None:
        self.trace, self.config, self.world = trace, config, trace.world
        w = self.world
        self.clock = SimClock()
        self.queue = EventQueue()
        m = trace.matrix
        missing = [c for c in w.chips if c not in m.chips]
        if missing:
            raise ValueError(f"throughput matrix has no column for chips {missing}")
        # Matrix columns in world chip order: rates[class, chip] per accelerator.
        self.rates = np.asarray(m.rates[:, [m.chips.index(c) for c in w.chips]], dtype=float)
        self.class_index = {c: i for i, c in enumerate(m.classes)}
        self.best_rate = self.rates.max(axis=1)
        # NCU per chip: its median speed relative to the fastest chip, over workload classes.
        # Attained service (the fair-share usage) is counted in these units.
        rel = self.rates / np.where(self.best_rate > 0, self.best_rate, 1.0)[:, None]
        self.chip_ncu = np.median(rel, axis=0) if len(m.classes) else np.ones(len(w.chips))
        self.market = Market(
            classes=m.classes,
            throughput=self.rates,
            chip_ncu=self.chip_ncu,
            price_fen=w.price_fen,
        ).resolve(len(w.chips), len(w.pools), 0)
        # Voucher programs lower the net price a cost-aware policy sees (before caps, which
        # only the ledger knows): the best program rate per chip, domestic or not.
        self.subsidy_row: np.ndarray | None = None
        if w.programs:
            catalog = load_catalog()
            domestic = [catalog.resolve(chip).domestic for chip in w.chips]
            self.subsidy_row = np.array(
                [max(p.rate_bp(d) for p in w.programs) for d in domestic], dtype=np.int64
            )
        self.c = _Columns(len(w.chips))
        self.n = 0
        self.jobs: list[SimJob] = []
        self.job_keys: list[str] = []
        self.key_index: dict[str, int] = {}
        self.org_names: list[str] = []
        self.org_index: dict[str, int] = {}
        self.org_attained = np.zeros(64)
        self.max_dev = int(w.node_devices.max())
        self.busy = np.zeros((w.n_nodes, self.max_dev), dtype=np.bool_)
        # Devices past a node's size are marked busy forever, so "free" is simply ~busy.
        self._padding = np.arange(self.max_dev)[None, :] >= w.node_devices[:, None]
        self.busy |= self._padding
        self.alloc: dict[int, list[tuple[int, int]]] = {}
        self.node_row = {k: i for i, k in enumerate(w.node_keys)}
        self.active: set[int] = set()
        self.last_t = 0.0
        self.version = 0
        self.cycles = 0
        self.cycle_at = -1.0
        # Usage segments, closed a batch at a time: (jobs, pools, starts, end, devices).
        self._segments: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]] = []
        self.samples_t: list[float] = []
        self.samples_busy: list[FloatArray] = []
        self.reasons: Counter[str] = Counter()
        self._source: Iterator[SimJob] = iter(trace.jobs)
        self._arrived = 0
        self._window_left = (trace.window[1] - trace.window[0]) if trace.window else 0
        self._stop = False
        self._full_free = tuple(tuple(range(int(d))) for d in w.node_devices)

    # -- arrivals -------------------------------------------------------------------------
    def _pull_next(self) -> None:
        limit = self.config.max_jobs
        if self._stop or (limit and self._arrived >= limit):
            return
        job = next(self._source, None)
        if job is None:
            return
        self._next = job
        self._arrived += 1
        self.queue.push(job.submit, Kind.ARRIVAL, self._arrived - 1)

    def _admit(self, job: SimJob, t: float) -> None:
        if self.n == self.c.capacity:
            self.c.grow()
        i, c = self.n, self.c
        self.n += 1
        self.jobs.append(job)
        self.job_keys.append(job.key)
        if job.key in self.key_index:
            raise ValueError(f"job key {job.key!r} appears twice in trace {self.trace.name}")
        self.key_index[job.key] = i
        cls = self.class_index.get(job.work_class)
        if cls is None:
            raise ValueError(
                f"job {job.key}: workload class {job.work_class!r} is not in the throughput matrix"
            )
        org = self.org_index.get(job.org)
        if org is None:
            org = self.org_index[job.org] = len(self.org_names)
            self.org_names.append(job.org)
            if org == len(self.org_attained):
                self.org_attained = np.concatenate([self.org_attained, np.zeros(org)])
        c.submit[i], c.work[i], c.remaining[i] = t, job.work, job.work
        c.accel[i], c.nodes[i], c.devices[i] = job.accel, job.nodes, job.accel * job.nodes
        c.cls[i], c.org[i], c.chip[i], c.pool[i] = cls, org, -1, -1
        c.priority[i] = job.priority
        if job.chips:
            unknown = [x for x in job.chips if x not in self.world.chips]
            c.accepts[i] = [x in job.chips for x in self.world.chips]
            if unknown and not c.accepts[i].any():
                raise ValueError(f"job {job.key}: accepts only chips {unknown} not in the world")
        usable = self.rates[cls] * c.accepts[i]
        best = float(usable.max())
        c.isolated[i] = job.work / (best * c.devices[i]) if best > 0 else math.inf
        self.active.add(i)

    # -- progress -------------------------------------------------------------------------
    def _advance(self, t: float) -> None:
        dt = t - self.last_t
        if dt <= 0:
            return
        c = self.c
        idx = np.flatnonzero(c.running[: self.n])
        if idx.size:
            effective = np.clip(t - np.maximum(self.last_t, c.stall[idx]), 0.0, dt)
            c.remaining[idx] -= c.rate[idx] * effective
            used = self.chip_ncu[c.chip[idx]] * c.devices[idx] * dt
            c.attained[idx] += used
            np.add.at(self.org_attained, c.org[idx], used)
        self.last_t = t

    def _schedule_completion(self, t: float) -> None:
        c = self.c
        idx = np.flatnonzero(c.running[: self.n])
        self.version += 1
        if not idx.size:
            return
        with np.errstate(divide="ignore"):
            left = np.where(c.rate[idx] > 0, c.remaining[idx] / c.rate[idx], np.inf)
        done_at = np.maximum(t, c.stall[idx]) + np.maximum(left, 0.0)
        first = float(done_at.min())
        if math.isfinite(first):
            self.queue.push(first, Kind.COMPLETION, self.version)

    def _release(self, jobs: list[int], t: float, free_devices: bool = True) -> None:
        """End ``jobs``' runs at ``t``, in one pass over the columns. ``free_devices``:
        clear their devices in the busy map (a caller about to rebuild it need not)."""
        if not jobs:
            return
        alloc = self.alloc
        if free_devices:
            self._set_busy([nd for i in jobs for nd in alloc.pop(i)], False)
        else:
            for i in jobs:
                del alloc[i]
        idx = np.array(jobs, dtype=np.int64)
        self._close_segments(idx, t)
        self.c.running[idx] = False

    def _close_segments(self, idx: np.ndarray, t: float) -> None:
        c = self.c
        start = c.seg_start[idx]
        open_ = t > start  # NaN (none open) compares False
        held = idx[open_]
        if held.size:
            self._segments.append((held, c.pool[held], start[open_], t, c.devices[held]))
        c.seg_start[idx] = np.nan

    def _segment_list(self) -> list[Segment]:
        out: list[Segment] = []
        for jobs, pools, starts, end, devs in self._segments:
            rows = zip(jobs.tolist(), pools.tolist(), starts.tolist(), devs.tolist(), strict=True)
            out.extend(Segment(j, p, s, end, d) for j, p, s, d in rows)
        return out

    def _complete(self, t: float) -> None:
        c = self.c
        idx = np.flatnonzero(c.running[: self.n])
        # Done when less than a microsecond of work is left: float error, not real work.
        done = idx[c.remaining[idx] <= c.rate[idx] * 1e-6]
        self._release(done.tolist(), t)
        for i in done.tolist():
            c.finish[i], c.remaining[i] = t, 0.0
            self.active.discard(i)
            w = self.trace.window
            if w and w[0] <= i < w[1]:
                self._window_left -= 1
                if self._window_left == 0 and self.trace.stop_after_window:
                    self._stop = True

    # -- cycles ---------------------------------------------------------------------------
    def _snapshot(self, t: float, rows: np.ndarray, free_all: bool) -> Snapshot:
        w, c = self.world, self.c
        if free_all:
            node_free = w.node_devices.copy()
            free_devices = self._full_free
        else:
            free_mask = ~self.busy
            node_free = free_mask.sum(axis=1)
            free_devices = tuple(tuple(np.flatnonzero(r).tolist()) for r in free_mask)
        org_codes, job_org = np.unique(c.org[rows], return_inverse=True)
        keys = self.job_keys
        return Snapshot(
            chips=w.chips,
            pools=w.pool_names,
            domains=w.domains,
            domain_pool=w.domain_pool,
            node_keys=w.node_keys,
            node_pool=w.node_pool,
            node_chip=w.node_chip,
            node_domain=w.node_domain,
            node_free=node_free,
            node_mem_gib=w.node_mem,
            node_free_devices=free_devices,
            job_keys=tuple([keys[i] for i in rows.tolist()]),
            job_accel=c.accel[rows],
            job_nodes=c.nodes[rows],
            job_min_mem=np.zeros(rows.size),
            job_chip_mask=c.accepts[rows],
            job_pool_mask=np.ones((rows.size, len(w.pools)), dtype=np.bool_),
            job_org=job_org.astype(np.int64),
            job_priority=c.priority[rows],
            job_submit=c.submit[rows],
            now=t,
            orgs=tuple([self.org_names[o] for o in org_codes.tolist()]),
            job_class=c.cls[rows],
            job_work=np.maximum(c.remaining[rows], 0.0),
            market=self.market
            if self.subsidy_row is None
            else replace(self.market, subsidy_bp=np.tile(self.subsidy_row, (org_codes.size, 1))),
            quotas=Quotas(decayed_usage=self.org_attained[org_codes]),
        )

    def _cycle(self, t: float) -> None:
        c = self.c
        sharing = self.config.round_s > 0
        rows = np.array(sorted(self.active), dtype=np.int64)
        if not sharing:
            rows = rows[~c.running[rows]]
        if not rows.size:
            return
        self.cycles += 1
        result = run_cycle(self._snapshot(t, rows, sharing), self.config.policy)
        self.reasons.update(result.stats.by_reason)
        key_index, node_row = self.key_index, self.node_row
        placed: dict[int, list[tuple[int, int]]] = {}
        for p in result.placements:
            if len(p.devices) == 1:  # most placements: no list comprehension's frame
                ((k, d),) = p.devices
                placed[key_index[p.job_key]] = [(node_row[k], d)]
            else:
                placed[key_index[p.job_key]] = [(node_row[k], d) for k, d in p.devices]
        if not sharing:
            self._start(placed, list(placed), t)
            return
        # The snapshot offered every device: end what changed, then rebuild the busy map.
        alloc = self.alloc
        preempted = [i for i in alloc if i not in placed]  # they checkpoint and wait
        migrated: list[int] = []
        starts: list[int] = []
        for i, devs in placed.items():
            old = alloc.get(i)
            if old is not None and _same_nodes(old, devs):
                alloc[i] = devs  # same nodes: it keeps running
                continue
            if old is not None:
                migrated.append(i)
            starts.append(i)
        c.preempt[preempted] += 1
        c.migrate[migrated] += 1
        self._release(preempted + migrated, t, free_devices=False)
        self.busy[:] = self._padding
        self._set_busy([nd for devs in alloc.values() for nd in devs], True)
        self._start(placed, starts, t)

    def _start(self, placed: dict[int, list[tuple[int, int]]], starts: list[int], t: float) -> None:
        """Start ``starts`` on their ``placed`` devices, in one pass over the columns."""
        if not starts:
            return
        c, w, busy = self.c, self.world, self.busy
        held = [nd for i in starts for nd in placed[i]]
        nodes, devs = (np.array(x, dtype=np.int64) for x in zip(*held, strict=True))
        if busy[nodes, devs].any():
            self._given_twice(held, busy)
        before = np.count_nonzero(busy)
        busy[nodes, devs] = True
        if np.count_nonzero(busy) - before != len(held):  # a device twice in this batch
            self._given_twice(held, None)
        idx = np.array(starts, dtype=np.int64)
        first_node = np.array([placed[i][0][0] for i in starts], dtype=np.int64)
        chip = w.node_chip[first_node]
        fresh = np.isnan(c.first_start[idx])
        resumed = (c.remaining[idx] < c.work[idx]) | ~fresh
        c.chip[idx], c.pool[idx], c.running[idx] = chip, w.node_pool[first_node], True
        c.rate[idx] = self.rates[c.cls[idx], chip] * c.devices[idx]
        c.stall[idx] = t + np.where(resumed, self.config.overhead_s, 0.0)
        c.first_start[idx[fresh]] = t
        c.seg_start[idx] = t
        for i in starts:
            self.alloc[i] = placed[i]

    def _set_busy(self, held: list[tuple[int, int]], value: bool) -> None:
        """Mark these (node, device) pairs busy or free, in one numpy assignment."""
        if held:
            nodes, devs = zip(*held, strict=True)
            self.busy[list(nodes), list(devs)] = value

    def _given_twice(self, held: list[tuple[int, int]], busy: np.ndarray | None) -> None:
        seen: set[tuple[int, int]] = set()
        for n, d in held:
            if (busy is not None and busy[n, d]) or (n, d) in seen:
                raise RuntimeError(f"device {self.world.node_keys[n]}:{d} given twice")
            seen.add((n, d))

    def _sample(self, t: float) -> None:
        c, w = self.c, self.world
        busy = np.zeros(len(w.chips))
        idx = np.flatnonzero(c.running[: self.n])
        np.add.at(busy, c.chip[idx], c.devices[idx])
        self.samples_t.append(t)
        self.samples_busy.append(busy)

    # -- the loop -------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> SimResult:
        # A simulated month keeps about a million small objects alive (usage segments,
        # queued events), and every full garbage collection walks all of them: together
        # they cost a tenth of the run. The engine makes no reference loops of its own, so
        # only the young generations are collected, every ``GC_EVERY`` cycles, for loops a
        # policy might make; the rest waits until the run ends.
        reset_solver_state()  # LP warm starts begin afresh: the same seed, the same report
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(progress)
        finally:
            if collecting:
                gc.enable()

    def _run(self, progress: Progress | None) -> SimResult:
        started = time.perf_counter()
        cfg, q = self.config, self.queue
        self._pull_next()
        q.push(0.0, Kind.SAMPLE)
        round_s = cfg.round_s
        next_round = -1.0
        last_report = 0.0
        while len(q):
            ev = q.pop()
            t = ev.time
            if t > cfg.max_time_s:
                break
            if ev.kind is Kind.COMPLETION and ev.token != self.version:
                continue  # superseded by a later prediction
            self.clock.set(t)
            self._advance(t)
            if ev.kind is Kind.ARRIVAL:
                self._admit(self._next, t)
                self._pull_next()
                if round_s <= 0:
                    self._want_cycle(t)
                elif next_round < t:
                    next_round = math.ceil(t / round_s) * round_s
                    q.push(next_round, Kind.CYCLE)
            elif ev.kind is Kind.COMPLETION:
                self._complete(t)
                if round_s <= 0:
                    self._want_cycle(t)
            elif ev.kind is Kind.CYCLE:
                self._cycle(t)
                if self.cycles % GC_EVERY == 0:
                    gc.collect(1)
                if round_s > 0 and self.active:
                    next_round = t + round_s
                    q.push(next_round, Kind.CYCLE)
            elif ev.kind is Kind.SAMPLE:
                self._sample(t)
                if self.active or len(q) > 1:
                    q.push(t + cfg.sample_s, Kind.SAMPLE)
            if ev.kind is not Kind.SAMPLE:
                self._schedule_completion(t)
            if self._stop:
                break
            if progress is not None and t - last_report >= 86_400:
                last_report = t
                progress(t, self.n)
            if not self.active and len(q) == 1 and q._heap[0].kind is Kind.SAMPLE:
                break  # only the sampler is left: the trace is done
        end = self.clock.now()
        self._advance(end)
        self._close_segments(np.array(list(self.alloc), dtype=np.int64), end)
        self._sample(end)
        return self._result(time.perf_counter() - started, end)

    def _want_cycle(self, t: float) -> None:
        # One cycle per instant, after every arrival and completion at that instant.
        if self.cycle_at != t:
            self.cycle_at = t
            self.queue.push(t, Kind.CYCLE)

    def _result(self, wall: float, end: float) -> SimResult:
        c, n = self.c, self.n
        busy = np.array(self.samples_busy) if self.samples_busy else np.zeros((0, 0))
        return SimResult(
            trace=self.trace.name,
            policy=self.config.policy,
            config=self.config,
            world=self.world,
            keys=[j.key for j in self.jobs],
            orgs=[j.org for j in self.jobs],
            kinds=[j.kind for j in self.jobs],
            classes=[j.work_class for j in self.jobs],
            submit=c.submit[:n].copy(),
            first_start=c.first_start[:n].copy(),
            finish=c.finish[:n].copy(),
            devices=c.devices[:n].astype(float),
            work=c.work[:n].copy(),
            preemptions=c.preempt[:n].astype(float),
            migrations=c.migrate[:n].astype(float),
            isolated_s=c.isolated[:n].copy(),
            window=self.trace.window,
            sample_t=np.array(self.samples_t),
            sample_busy=busy,
            segments=self._segment_list(),
            events=self.queue.popped,
            cycles=self.cycles,
            wall_s=wall,
            end_time=end,
            pending_reasons=dict(sorted(self.reasons.items())),
        )


def _same_nodes(old: list[tuple[int, int]], new: list[tuple[int, int]]) -> bool:
    if len(old) == len(new) == 1:
        return old[0][0] == new[0][0]
    return {n for n, _ in old} == {n for n, _ in new}


def simulate(trace: Trace, config: SimConfig, progress: Progress | None = None) -> SimResult:
    return Engine(trace, config).run(progress)
