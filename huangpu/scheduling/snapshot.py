"""The scheduling snapshot: one immutable, columnar picture of capacity and queue per cycle.

Columns are numpy arrays (read-only) so the cycle can score every job against every node at
once. ``control`` and the simulator fill a ``SnapshotBuilder``; ``build()`` validates everything
and either returns a whole ``Snapshot`` or raises ``SnapshotError`` naming the bad object.

Conventions the policies rely on:
- nodes are grouped by pool, in pool order (the builder sorts them, keeping insertion order
  inside a pool), so "first node" means "first node of the first pool";
- an interconnect domain belongs to one pool: domain codes number distinct
  (pool, domain key) pairs in order of first appearance;
- ``node_free_devices`` tuples are ascending, so "lowest free devices first" is a slice;
- ``node_mem_gib`` and ``job_min_mem`` are memory per accelerator, as chips are sold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from huangpu.scheduling.snapshot_types import (
    BoolArray,
    FloatArray,
    IntArray,
    SnapshotError,
    frozen_array,
)
from huangpu.scheduling.tables import Held, Market, Quotas, Running

__all__ = ["BoolArray", "FloatArray", "IntArray", "Snapshot", "SnapshotBuilder", "SnapshotError"]

_DTYPES: dict[str, type[np.generic]] = {
    "node_pool": np.int64,
    "node_chip": np.int64,
    "node_domain": np.int64,
    "node_free": np.int64,
    "node_mem_gib": np.float64,
    "domain_pool": np.int64,
    "job_accel": np.int64,
    "job_nodes": np.int64,
    "job_min_mem": np.float64,
    "job_chip_mask": np.bool_,
    "job_pool_mask": np.bool_,
    "job_org": np.int64,
    "job_priority": np.int64,
    "job_submit": np.float64,
}


@dataclass(frozen=True, eq=False)
class Snapshot:
    chips: tuple[str, ...]
    pools: tuple[str, ...]
    domains: tuple[str, ...]  # domain key per domain code (keys may repeat across pools)
    domain_pool: IntArray
    node_keys: tuple[str, ...]
    node_pool: IntArray
    node_chip: IntArray
    node_domain: IntArray
    node_free: IntArray
    node_mem_gib: FloatArray
    node_free_devices: tuple[tuple[int, ...], ...]
    job_keys: tuple[str, ...]
    job_accel: IntArray
    job_nodes: IntArray
    job_min_mem: FloatArray
    job_chip_mask: BoolArray
    job_pool_mask: BoolArray
    job_org: IntArray
    job_priority: IntArray
    job_submit: FloatArray
    now: float = field(default=0.0)
    # Everything below is optional; unset columns take a neutral default in __post_init__
    # (one org per job_org index, one region, no price, no deadline, no quotas).
    orgs: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    pool_region: IntArray = field(default_factory=lambda: _unset(np.int64))
    job_class: IntArray = field(default_factory=lambda: _unset(np.int64))  # row of throughput
    job_max_price: IntArray = field(default_factory=lambda: _unset(np.int64))  # fen/acc-h, 0 none
    job_deadline: FloatArray = field(default_factory=lambda: _unset(np.float64))  # inf none
    # Seconds the job needs on its fastest accepted chip (user estimate or history); nan unknown.
    job_runtime: FloatArray = field(default_factory=lambda: _unset(np.float64))
    job_work: FloatArray = field(default_factory=lambda: _unset(np.float64))  # units; nan unknown
    job_residency: IntArray = field(default_factory=lambda: _unset(np.int64))  # region, -1 none
    market: Market = field(default_factory=Market)
    quotas: Quotas = field(default_factory=Quotas)
    running: Running = field(default_factory=Running)
    held: Held = field(default_factory=Held)  # reservation carried by an incremental cycle

    def __post_init__(self) -> None:
        for name, dtype in _DTYPES.items():
            object.__setattr__(self, name, frozen_array(getattr(self, name), dtype))
        _fill_optional(self)
        _validate(self)

    @property
    def n_nodes(self) -> int:
        return len(self.node_keys)

    @property
    def n_jobs(self) -> int:
        return len(self.job_keys)

    @property
    def n_orgs(self) -> int:
        return len(self.orgs)

    def describe(self) -> str:
        return (
            f"Snapshot({len(self.pools)} pools, {self.n_nodes} nodes, "
            f"{int(self.node_free.sum())} free devices, {self.n_jobs} jobs, now={self.now})"
        )


def _unset(dtype: type[np.generic]) -> Any:
    return np.zeros(0, dtype=dtype)


_JOB_DEFAULTS: dict[str, tuple[type[np.generic], float]] = {
    "job_class": (np.int64, 0),
    "job_max_price": (np.int64, 0),
    "job_deadline": (np.float64, np.inf),
    "job_runtime": (np.float64, np.nan),
    "job_work": (np.float64, np.nan),
    "job_residency": (np.int64, -1),
}


def _fill_optional(s: Snapshot) -> None:
    """Give unset optional columns their neutral default; resolve the tables."""
    put = object.__setattr__
    n_jobs = len(s.job_keys)
    for name, (dtype, default) in _JOB_DEFAULTS.items():
        column = np.asarray(getattr(s, name))
        if column.size == 0 and n_jobs:
            column = np.full(n_jobs, default, dtype=dtype)
        put(s, name, frozen_array(column, dtype))
    regions = s.regions or ("default",)
    pool_region = np.asarray(s.pool_region)
    if pool_region.size == 0 and s.pools:
        pool_region = np.zeros(len(s.pools), dtype=np.int64)
    put(s, "regions", regions)
    put(s, "pool_region", frozen_array(pool_region, np.int64))
    if not s.orgs:
        # Without names, orgs are the indices the rows use: 0 .. the largest one.
        top = max([-1, *np.asarray(s.job_org).tolist(), *np.asarray(s.running.org).tolist()])
        top = max(top + 1, len(np.asarray(s.quotas.nominal)), len(s.quotas.blocked))
        put(s, "orgs", tuple(f"org-{i}" for i in range(top)))
    n_orgs = len(s.orgs)
    put(s, "market", s.market.resolve(len(s.chips), len(s.pools), n_orgs))
    put(s, "quotas", s.quotas.resolve(s.chips, n_orgs))


def _check_optional(s: Snapshot) -> None:
    n_jobs = len(s.job_keys)
    for name in _JOB_DEFAULTS:
        got = getattr(s, name).shape
        if got != (n_jobs,):
            raise SnapshotError("snapshot", name, f"has shape {got}, expected {(n_jobs,)}")
    if s.pool_region.shape != (len(s.pools),):
        raise SnapshotError("snapshot", "pool_region", f"expected {len(s.pools)} rows")
    if np.any((s.pool_region < 0) | (s.pool_region >= len(s.regions))):
        raise SnapshotError("snapshot", "pool_region", "region index out of range")
    checks = (
        ((s.job_org < 0) | (s.job_org >= s.n_orgs), "org index out of range"),
        ((s.job_class < 0) | (s.job_class >= len(s.market.classes)), "workload class unknown"),
        (s.job_max_price < 0, "max price must be ≥ 0 fen (0 means no limit)"),
        ((s.job_residency < -1) | (s.job_residency >= len(s.regions)), "residency out of range"),
        (np.isnan(s.job_deadline), "deadline must be a time or +inf"),
        (s.job_runtime <= 0, "runtime estimate must be > 0 (or NaN: unknown)"),
        (s.job_work < 0, "work must be ≥ 0 (or NaN: unknown)"),
    )
    for bad, message in checks:
        rows = np.flatnonzero(bad)
        if rows.size:
            raise SnapshotError("job", s.job_keys[int(rows[0])], message)
    object.__setattr__(s, "running", s.running.resolve(len(s.node_keys), s.n_orgs))
    object.__setattr__(s, "held", s.held.resolve(s.node_pool, s.node_chip))


def _check_shapes(s: Snapshot) -> None:
    n, j = len(s.node_keys), len(s.job_keys)
    expected: dict[str, tuple[int, ...]] = {
        "domain_pool": (len(s.domains),),
        **{name: (n,) for name in ("node_pool", "node_chip", "node_domain", "node_free")},
        "node_mem_gib": (n,),
        **{name: (j,) for name in ("job_accel", "job_nodes", "job_min_mem", "job_org")},
        "job_priority": (j,),
        "job_submit": (j,),
        "job_chip_mask": (j, len(s.chips)),
        "job_pool_mask": (j, len(s.pools)),
    }
    for name, shape in expected.items():
        got = getattr(s, name).shape
        if got != shape:
            raise SnapshotError("snapshot", name, f"has shape {got}, expected {shape}")
    if len(s.node_free_devices) != n:
        raise SnapshotError(
            "snapshot", "node_free_devices", f"has {len(s.node_free_devices)} rows, expected {n}"
        )


def _check_codes(s: Snapshot, name: str, values: IntArray, size: int, keys: Sequence[str]) -> None:
    bad = np.flatnonzero((values < 0) | (values >= size))
    if bad.size:
        i = int(bad[0])
        raise SnapshotError("node", keys[i], f"{name} {int(values[i])} is out of range 0..{size}")


def _first_duplicate(keys: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return None


def _check_nodes(s: Snapshot) -> None:
    dup = _first_duplicate(s.node_keys)
    if dup is not None:
        raise SnapshotError("node", dup, "node key listed twice")
    _check_codes(s, "pool", s.node_pool, len(s.pools), s.node_keys)
    _check_codes(s, "chip", s.node_chip, len(s.chips), s.node_keys)
    _check_codes(s, "domain", s.node_domain, len(s.domains), s.node_keys)
    if s.n_nodes and np.any(np.diff(s.node_pool) < 0):
        raise SnapshotError("snapshot", "node_pool", "nodes must be grouped by pool, in order")
    wrong_domain = np.flatnonzero(s.domain_pool[s.node_domain] != s.node_pool)
    if wrong_domain.size:
        key = s.node_keys[int(wrong_domain[0])]
        raise SnapshotError("node", key, "its interconnect domain belongs to another pool")
    for name in ("node_free", "node_mem_gib"):
        column = getattr(s, name)
        neg = np.flatnonzero(~(column >= 0))  # catches NaN as well as negatives
        if neg.size:
            i = int(neg[0])
            raise SnapshotError("node", s.node_keys[i], f"negative capacity: {name}={column[i]}")
    _check_free_devices(s)


# The last free-device table found valid, with its counts: the simulator's rounds offer every
# device and so pass the same (immutable) tuple each cycle, checked once.
_valid_devices: tuple[tuple[tuple[int, ...], ...], bytes] | None = None


def _check_free_devices(s: Snapshot) -> None:
    global _valid_devices
    counts = s.node_free.tobytes()
    last = _valid_devices
    if last is not None and last[0] is s.node_free_devices and last[1] == counts:
        return
    for i, devices in enumerate(s.node_free_devices):
        key = s.node_keys[i]
        if len(set(devices)) != len(devices):
            twice = next(d for d in devices if devices.count(d) > 1)
            raise SnapshotError("node", key, f"device index {twice} listed twice")
        if any(d < 0 for d in devices):
            raise SnapshotError("node", key, f"negative device index in {list(devices)}")
        if list(devices) != sorted(devices):
            raise SnapshotError("node", key, "free device indices must be ascending")
        if len(devices) != int(s.node_free[i]):
            raise SnapshotError(
                "node", key, f"node_free={int(s.node_free[i])} but {len(devices)} devices listed"
            )
    _valid_devices = (s.node_free_devices, counts)


def _check_jobs(s: Snapshot) -> None:
    dup = _first_duplicate(s.job_keys)
    if dup is not None:
        raise SnapshotError("job", dup, "job key listed twice")
    checks = (
        (s.job_accel < 1, "accelerators must be ≥ 1"),
        (s.job_nodes < 1, "nodes must be ≥ 1"),
        (~(s.job_min_mem >= 0), "min memory must be ≥ 0"),
        (~np.isfinite(s.job_submit), "submit time must be finite"),
    )
    for bad, message in checks:
        rows = np.flatnonzero(bad)
        if rows.size:
            raise SnapshotError("job", s.job_keys[int(rows[0])], message)


def _validate(s: Snapshot) -> None:
    _check_shapes(s)
    _check_nodes(s)
    _check_jobs(s)
    _check_optional(s)
    if not np.isfinite(s.now):
        raise SnapshotError("snapshot", "now", f"now must be finite, got {s.now}")


class _NodeRow(NamedTuple):
    pool: int
    key: str
    chip: int
    domain: str
    devices: tuple[int, ...]
    memory_gib: float


class _JobRow(NamedTuple):
    key: str
    accel: int
    nodes: int
    min_mem: float
    chips: tuple[int, ...]
    org: int
    priority: int
    submit: float
    pools: tuple[int, ...] | None
    work_class: int = 0
    max_price_fen: int = 0
    deadline: float = np.inf
    runtime_s: float = np.nan
    work: float = np.nan
    residency: int = -1


class _RunRow(NamedTuple):
    key: str
    org: int
    priority: int
    start: float
    end: float
    preemptible: bool
    allocations: tuple[tuple[str, int], ...]


class SnapshotBuilder:
    """Collects rows, then ``build()`` checks them all and returns a ``Snapshot``.

    Chips and pools are fixed up front so indices mean the same in every row.
    """

    def __init__(self, chips: Sequence[str], pools: Sequence[str], now: float) -> None:
        self._chips = tuple(chips)
        self._pools = tuple(pools)
        self._now = float(now)
        self._nodes: list[_NodeRow] = []
        self._jobs: list[_JobRow] = []
        self._running: list[_RunRow] = []
        self._orgs: tuple[str, ...] = ()
        self._regions: tuple[str, ...] = ()
        self._pool_region: tuple[int, ...] = ()
        self._market = Market()
        self._quotas = Quotas()
        self._held: tuple[str, float, tuple[tuple[str, int], ...]] | None = None

    def set_orgs(self, orgs: Sequence[str]) -> SnapshotBuilder:
        self._orgs = tuple(orgs)
        return self

    def set_regions(self, regions: Sequence[str], pool_region: Sequence[int]) -> SnapshotBuilder:
        """Region names, and the region index of each pool (residency is checked against it)."""
        self._regions, self._pool_region = tuple(regions), tuple(pool_region)
        return self

    def set_market(self, market: Market) -> SnapshotBuilder:
        self._market = market
        return self

    def set_quotas(self, quotas: Quotas) -> SnapshotBuilder:
        self._quotas = quotas
        return self

    def set_reservation(
        self, head_key: str, start: float, holds: Sequence[tuple[str, int]]
    ) -> SnapshotBuilder:
        """Carry the previous cycle's EASY reservation: the head job, its start, and (node key,
        devices held) per reserved node. For incremental cycles over new arrivals only."""
        self._held = (head_key, float(start), tuple(holds))
        return self

    def _held_table(self, node_keys: tuple[str, ...]) -> Held:
        if self._held is None:
            return Held()
        head, start, holds = self._held
        index = {key: i for i, key in enumerate(node_keys)}
        missing = [k for k, _ in holds if k not in index]
        if missing:
            raise SnapshotError("held", head, f"reserves unknown node {missing[0]!r}")
        rows = np.array([index[k] for k, _ in holds], dtype=np.int64)
        return Held(head, start, rows, np.array([c for _, c in holds], dtype=np.int64))

    def add_running(
        self,
        job_key: str,
        org_index: int,
        priority: int,
        start: float,
        allocations: Sequence[tuple[str, int]],
        expected_end: float = np.inf,
        preemptible: bool = True,
    ) -> SnapshotBuilder:
        """A job holding devices: ``allocations`` are (node key, devices held on it)."""
        self._running.append(
            _RunRow(
                job_key, org_index, priority, start, expected_end, preemptible, tuple(allocations)
            )
        )
        return self

    def add_node(
        self,
        pool_index: int,
        node_key: str,
        chip_index: int,
        domain_key: str,
        free_device_indices: Sequence[int],
        memory_gib: float,
    ) -> SnapshotBuilder:
        self._nodes.append(
            _NodeRow(
                pool_index, node_key, chip_index, domain_key, tuple(free_device_indices), memory_gib
            )
        )
        return self

    def add_job(
        self,
        job_key: str,
        accelerators: int,
        nodes: int,
        min_memory_gib: float,
        accepted_chip_indices: Sequence[int],
        org_index: int,
        priority: int,
        submit_time: float,
        region_ok_pool_indices: Sequence[int] | None = None,
        *,
        work_class: int = 0,
        max_price_fen: int = 0,
        deadline: float = np.inf,
        runtime_s: float = np.nan,
        work: float = np.nan,
        residency: int = -1,
    ) -> SnapshotBuilder:
        """``region_ok_pool_indices`` is every pool the job may use (regions, supplier lists
        and software stack already applied by the caller); ``residency`` is the region index
        the job's data must never leave, checked again by the cycle itself."""
        region = None if region_ok_pool_indices is None else tuple(region_ok_pool_indices)
        chips = tuple(accepted_chip_indices)
        self._jobs.append(
            _JobRow(
                job_key,
                accelerators,
                nodes,
                min_memory_gib,
                chips,
                org_index,
                priority,
                submit_time,
                region,
                work_class,
                max_price_fen,
                deadline,
                runtime_s,
                work,
                residency,
            )
        )
        return self

    def _running_table(self, node_keys: tuple[str, ...]) -> Running:
        index = {key: i for i, key in enumerate(node_keys)}
        alloc_run: list[int] = []
        alloc_node: list[int] = []
        alloc_count: list[int] = []
        for r, run in enumerate(self._running):
            for node_key, count in run.allocations:
                if node_key not in index:
                    raise SnapshotError("running job", run.key, f"holds unknown node {node_key!r}")
                alloc_run.append(r)
                alloc_node.append(index[node_key])
                alloc_count.append(count)
        rows = self._running
        return Running(
            keys=tuple(r.key for r in rows),
            org=np.array([r.org for r in rows], dtype=np.int64),
            priority=np.array([r.priority for r in rows], dtype=np.int64),
            start=np.array([r.start for r in rows], dtype=np.float64),
            end=np.array([r.end for r in rows], dtype=np.float64),
            preemptible=np.array([r.preemptible for r in rows], dtype=np.bool_),
            alloc_run=np.array(alloc_run, dtype=np.int64),
            alloc_node=np.array(alloc_node, dtype=np.int64),
            alloc_count=np.array(alloc_count, dtype=np.int64),
        )

    def _mask(self, key: str, what: str, indices: tuple[int, ...], size: int) -> BoolArray:
        mask = np.zeros(size, dtype=np.bool_)
        for i in indices:
            if not 0 <= i < size:
                raise SnapshotError("job", key, f"{what} index {i} is out of range 0..{size}")
            mask[i] = True
        return mask

    def build(self) -> Snapshot:
        # A stable sort keeps insertion order within a pool, so first-fit is predictable.
        nodes = sorted(self._nodes, key=lambda row: row.pool)
        jobs = self._jobs
        domain_codes: dict[tuple[int, str], int] = {}
        for node in nodes:
            domain_codes.setdefault((node.pool, node.domain), len(domain_codes))
        n_chips, n_pools = len(self._chips), len(self._pools)
        chip_masks = [self._mask(j.key, "chip", j.chips, n_chips) for j in jobs]
        pool_masks = [
            np.ones(n_pools, dtype=np.bool_)
            if j.pools is None
            else self._mask(j.key, "pool", j.pools, n_pools)
            for j in jobs
        ]
        return Snapshot(
            chips=self._chips,
            pools=self._pools,
            domains=tuple(domain for _, domain in domain_codes),
            domain_pool=np.array([pool for pool, _ in domain_codes], dtype=np.int64),
            node_keys=tuple(n.key for n in nodes),
            node_pool=np.array([n.pool for n in nodes], dtype=np.int64),
            node_chip=np.array([n.chip for n in nodes], dtype=np.int64),
            node_domain=np.array([domain_codes[(n.pool, n.domain)] for n in nodes], np.int64),
            node_free=np.array([len(n.devices) for n in nodes], dtype=np.int64),
            node_mem_gib=np.array([n.memory_gib for n in nodes], dtype=np.float64),
            # Sorting here is safe: duplicates survive it and are rejected by validation.
            node_free_devices=tuple(tuple(sorted(n.devices)) for n in nodes),
            job_keys=tuple(j.key for j in jobs),
            job_accel=np.array([j.accel for j in jobs], dtype=np.int64),
            job_nodes=np.array([j.nodes for j in jobs], dtype=np.int64),
            job_min_mem=np.array([j.min_mem for j in jobs], dtype=np.float64),
            job_chip_mask=np.array(chip_masks, dtype=np.bool_).reshape(len(jobs), n_chips),
            job_pool_mask=np.array(pool_masks, dtype=np.bool_).reshape(len(jobs), n_pools),
            job_org=np.array([j.org for j in jobs], dtype=np.int64),
            job_priority=np.array([j.priority for j in jobs], dtype=np.int64),
            job_submit=np.array([j.submit for j in jobs], dtype=np.float64),
            now=self._now,
            orgs=self._orgs,
            regions=self._regions,
            pool_region=np.array(self._pool_region, dtype=np.int64),
            job_class=np.array([j.work_class for j in jobs], dtype=np.int64),
            job_max_price=np.array([j.max_price_fen for j in jobs], dtype=np.int64),
            job_deadline=np.array([j.deadline for j in jobs], dtype=np.float64),
            job_runtime=np.array([j.runtime_s for j in jobs], dtype=np.float64),
            job_work=np.array([j.work for j in jobs], dtype=np.float64),
            job_residency=np.array([j.residency for j in jobs], dtype=np.int64),
            market=self._market,
            quotas=self._quotas,
            running=self._running_table(tuple(n.key for n in nodes)),
            held=self._held_table(tuple(n.key for n in nodes)),
        )
