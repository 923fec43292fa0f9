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

from huangpu.scheduling.snapshot_checks import (
    EMPTY_FLOAT,
    EMPTY_INT,
    fill_optional,
    layout_key,
    validate,
)
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

# The node layout: columns that describe the nodes themselves, not what is free on them. The
# simulator, and the control loop between node changes, offer the same layout every cycle.
_LAYOUT = ("node_pool", "node_chip", "node_domain", "node_mem_gib", "domain_pool")

# The last layout found valid (its key: sizes, node keys, and the bytes of each layout column)
# and its frozen columns, shared by the snapshots that offer it again: their layout checks
# (shapes, codes, grouping, domains, memory) passed once and would pass again, so they are
# skipped. Keyed on values, never on identity, so a caller that changes an array in place is
# checked again. The frozen columns are read-only copies nobody else holds.
_last_layout: tuple[tuple[Any, ...], dict[str, Any]] | None = None


def _unset_int() -> Any:
    return EMPTY_INT


def _unset_float() -> Any:
    return EMPTY_FLOAT


_COLUMNS = tuple((name, dtype, name in _LAYOUT) for name, dtype in _DTYPES.items())


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
    pool_region: IntArray = field(default_factory=_unset_int)
    job_class: IntArray = field(default_factory=_unset_int)  # row of throughput
    job_max_price: IntArray = field(default_factory=_unset_int)  # fen/acc-h, 0 none
    job_deadline: FloatArray = field(default_factory=_unset_float)  # inf none
    # Seconds the job needs on its fastest accepted chip (user estimate or history); nan unknown.
    job_runtime: FloatArray = field(default_factory=_unset_float)
    job_work: FloatArray = field(default_factory=_unset_float)  # units; nan unknown
    job_residency: IntArray = field(default_factory=_unset_int)  # region, -1 none
    # Unset tables are shared instances: they are immutable, and their columns read-only.
    market: Market = field(default=Market())
    quotas: Quotas = field(default=Quotas())
    running: Running = field(default=Running())
    held: Held = field(default=Held())  # reservation carried by an incremental cycle

    def __post_init__(self) -> None:
        global _last_layout
        # Frozen: fields are set straight in the instance dict, as object.__setattr__ would.
        put = self.__dict__.__setitem__
        layout: dict[str, Any] = {}
        for name, dtype, in_layout in _COLUMNS:
            if in_layout:
                layout[name] = np.asarray(getattr(self, name), dtype=dtype)
            else:
                put(name, frozen_array(getattr(self, name), dtype))
        key = layout_key(self, layout)
        last = _last_layout
        if key is not None and last is not None and last[0] == key:
            known = True
            for name, array in last[1].items():
                put(name, array)
        else:
            known = False
            for name, array in layout.items():
                put(name, frozen_array(array, _DTYPES[name]))
        defaulted = fill_optional(self)
        validate(self, known, defaulted)
        if key is not None and not known:
            _last_layout = (key, {name: getattr(self, name) for name in _LAYOUT})

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
        if not self._running:
            return Running()  # the same empty columns, shared: nothing to convert or check
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
