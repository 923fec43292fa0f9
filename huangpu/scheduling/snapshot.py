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

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from huangpu.scheduling.snapshot_types import (
    BoolArray,
    FloatArray,
    IntArray,
    SnapshotError,
    constant,
    empty_array,
    frozen_array,
)
from huangpu.scheduling.tables import Held, Market, Quotas, Running

# ufunc reductions without ndarray.min's Python wrapper (NaN propagates, as with .min()).
_min = np.minimum.reduce
_max = np.maximum.reduce
_fmin = np.fmin.reduce  # ignores NaN (an unknown runtime or work)

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
# Unset optional columns: the shared read-only empty arrays (their identity marks them unset).
_EMPTY_INT, _EMPTY_FLOAT = empty_array(np.int64), empty_array(np.float64)
_EMPTY: dict[type[np.generic], Any] = {np.int64: _EMPTY_INT, np.float64: _EMPTY_FLOAT}


def _unset_int() -> Any:
    return _EMPTY_INT


def _unset_float() -> Any:
    return _EMPTY_FLOAT


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
        key = _layout_key(self, layout)
        last = _last_layout
        if key is not None and last is not None and last[0] == key:
            known = True
            for name, array in last[1].items():
                put(name, array)
        else:
            known = False
            for name, array in layout.items():
                put(name, frozen_array(array, _DTYPES[name]))
        defaulted = _fill_optional(self)
        _validate(self, known, defaulted)
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


def _layout_key(s: Snapshot, layout: dict[str, Any]) -> tuple[Any, ...] | None:
    """What the layout checks depend on, or None when it cannot be compared safely (only
    tuples are immutable: a list of node keys could change under a cached key)."""
    chips, pools, domains, keys = s.chips, s.pools, s.domains, s.node_keys
    if not (type(chips) is type(pools) is type(domains) is type(keys) is tuple):
        return None
    key: list[Any] = [len(chips), len(pools), len(domains), keys]
    for array in layout.values():
        key += (array.shape, array.tobytes())
    return tuple(key)


_JOB_DEFAULTS: dict[str, tuple[type[np.generic], float]] = {
    "job_class": (np.int64, 0),
    "job_max_price": (np.int64, 0),
    "job_deadline": (np.float64, np.inf),
    "job_runtime": (np.float64, np.nan),
    "job_work": (np.float64, np.nan),
    "job_residency": (np.int64, -1),
}


def _fill_optional(s: Snapshot) -> set[str]:
    """Give unset optional columns their neutral default; resolve the tables.

    Returns the columns given their default: shared read-only arrays, valid by construction
    (except ``job_class`` 0 when the market has no classes, which is still checked)."""
    put = s.__dict__.__setitem__  # the frozen instance's own fields
    n_jobs = len(s.job_keys)
    defaulted: set[str] = set()
    for name, (dtype, default) in _JOB_DEFAULTS.items():
        column = getattr(s, name)
        if column is _EMPTY[dtype]:  # the shared empty one: unset, nothing to convert or copy
            if n_jobs:
                defaulted.add(name)
                put(name, constant((n_jobs,), dtype, default))
            continue
        column = np.asarray(column)
        if column.size == 0 and n_jobs:
            defaulted.add(name)
            put(name, constant((n_jobs,), dtype, default))
        else:
            put(name, frozen_array(column, dtype))
    regions = s.regions or ("default",)
    pool_region = np.asarray(s.pool_region)
    put("regions", regions)
    if pool_region.size == 0 and s.pools:
        defaulted.add("pool_region")
        put("pool_region", constant((len(s.pools),), np.int64, 0))
    else:
        put("pool_region", frozen_array(pool_region, np.int64))
    if not s.orgs:
        # Without names, orgs are the indices the rows use: 0 .. the largest one.
        top = max([-1, *np.asarray(s.job_org).tolist(), *np.asarray(s.running.org).tolist()])
        top = max(top + 1, len(np.asarray(s.quotas.nominal)), len(s.quotas.blocked))
        put("orgs", tuple(f"org-{i}" for i in range(top)))
    n_orgs = len(s.orgs)
    put("market", s.market.resolve(len(s.chips), len(s.pools), n_orgs))
    put("quotas", s.quotas.resolve(s.chips, n_orgs))
    return defaulted


def _first_bad_job(s: Snapshot, bad: Any, message: str) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        raise SnapshotError("job", s.job_keys[int(rows[0])], message)


def _check_optional(s: Snapshot, defaulted: set[str]) -> None:
    n_jobs = len(s.job_keys)
    for name in _JOB_DEFAULTS:
        got = getattr(s, name).shape
        if got != (n_jobs,):
            raise SnapshotError("snapshot", name, f"has shape {got}, expected {(n_jobs,)}")
    if s.pool_region.shape != (len(s.pools),):
        raise SnapshotError("snapshot", "pool_region", f"expected {len(s.pools)} rows")
    if "pool_region" not in defaulted and np.any(
        (s.pool_region < 0) | (s.pool_region >= len(s.regions))
    ):
        raise SnapshotError("snapshot", "pool_region", "region index out of range")
    # Each check is one cheap reduction first; the row is looked for only when it fails. The
    # order is that of the row-by-row messages, so the first failing check is the one reported.
    if n_jobs:
        org, n_orgs = s.job_org, s.n_orgs
        if _max(org.view(np.uint64), None) >= n_orgs:  # negatives wrap round to huge
            _first_bad_job(s, (org < 0) | (org >= n_orgs), "org index out of range")
        cls, n_classes = s.job_class, len(s.market.classes)
        if ("job_class" not in defaulted or not n_classes) and _max(
            cls.view(np.uint64), None
        ) >= n_classes:
            _first_bad_job(s, (cls < 0) | (cls >= n_classes), "workload class unknown")
        if "job_max_price" not in defaulted and _min(s.job_max_price, None) < 0:
            _first_bad_job(s, s.job_max_price < 0, "max price must be ≥ 0 fen (0 means no limit)")
        res, n_regions = s.job_residency, len(s.regions)
        if "job_residency" not in defaulted and (
            _min(res, None) < -1 or _max(res, None) >= n_regions
        ):
            _first_bad_job(s, (res < -1) | (res >= n_regions), "residency out of range")
        if "job_deadline" not in defaulted and math.isnan(_max(s.job_deadline, None)):
            _first_bad_job(s, np.isnan(s.job_deadline), "deadline must be a time or +inf")
        if "job_runtime" not in defaulted and _fmin(s.job_runtime, None) <= 0:
            _first_bad_job(s, s.job_runtime <= 0, "runtime estimate must be > 0 (or NaN: unknown)")
        if "job_work" not in defaulted and _fmin(s.job_work, None) < 0:
            _first_bad_job(s, s.job_work < 0, "work must be ≥ 0 (or NaN: unknown)")
    fields = s.__dict__  # the frozen instance's own fields
    fields["running"] = s.running.resolve(len(s.node_keys), s.n_orgs)
    fields["held"] = s.held.resolve(s.node_pool, s.node_chip)


# Column shapes, in the order they are checked: "n" one row per node, "j" per job, "d" per
# domain; "jc"/"jp" a row per job and a column per chip/pool. Layout columns are marked.
_SHAPES: tuple[tuple[str, str, bool], ...] = (
    ("domain_pool", "d", True),
    ("node_pool", "n", True),
    ("node_chip", "n", True),
    ("node_domain", "n", True),
    ("node_free", "n", False),
    ("node_mem_gib", "n", True),
    ("job_accel", "j", False),
    ("job_nodes", "j", False),
    ("job_min_mem", "j", False),
    ("job_org", "j", False),
    ("job_priority", "j", False),
    ("job_submit", "j", False),
    ("job_chip_mask", "jc", False),
    ("job_pool_mask", "jp", False),
)


_PER_CYCLE_SHAPES = tuple(entry for entry in _SHAPES if not entry[2])


def _check_shapes(s: Snapshot, known: bool) -> None:
    n, j = len(s.node_keys), len(s.job_keys)
    expected: dict[str, tuple[int, ...]] = {
        "n": (n,),
        "j": (j,),
        "d": (len(s.domains),),
        "jc": (j, len(s.chips)),
        "jp": (j, len(s.pools)),
    }
    # Layout columns were checked when this layout was first seen.
    for name, rows, _ in _PER_CYCLE_SHAPES if known else _SHAPES:
        got = getattr(s, name).shape
        shape = expected[rows]
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


def _check_nodes(s: Snapshot, known: bool) -> None:
    if not known:
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
    # A valid free-device table lists node_free devices per node, so node_free ≥ 0 too.
    devices_ok = _free_devices_valid(s)
    for name in ("node_free", "node_mem_gib"):
        if (devices_ok and name == "node_free") or (known and name == "node_mem_gib"):
            continue
        column = getattr(s, name)
        neg = np.flatnonzero(~(column >= 0))  # catches NaN as well as negatives
        if neg.size:
            i = int(neg[0])
            raise SnapshotError("node", s.node_keys[i], f"negative capacity: {name}={column[i]}")
    if not devices_ok:
        _check_free_devices(s)


# The last free-device table found valid, with its counts: the simulator's rounds offer every
# device and so pass the same (immutable) tuple each cycle, checked once.
_valid_devices: tuple[tuple[tuple[int, ...], ...], bytes] | None = None


def _free_devices_valid(s: Snapshot) -> bool:
    """True when every node's free devices are ascending, distinct, ≥ 0 and node_free many:
    the whole table at once. False means look row by row (``_check_free_devices``)."""
    global _valid_devices
    devices = s.node_free_devices
    counts = s.node_free.tobytes()
    last = _valid_devices
    if last is not None and last[0] is devices and last[1] == counts:
        return True
    if type(devices) is not tuple or not all(type(row) is tuple for row in devices):
        return False  # only tuples are immutable, and only they may be remembered
    lengths = [len(row) for row in devices]
    if lengths != s.node_free.tolist():
        return False
    flat = np.array(list(chain.from_iterable(devices)))
    if flat.size:
        if flat.dtype.kind != "i" or _min(flat, None) < 0:  # not plain ints: look row by row
            return False
        # Strictly ascending inside each row: every step is > 0 except from one row to the next.
        step = np.diff(flat)
        ends = np.cumsum(lengths)[:-1]
        step[ends[(ends > 0) & (ends < flat.size)] - 1] = 1
        if not (step > 0).all():
            return False
    _valid_devices = (devices, counts)
    return True


def _check_free_devices(s: Snapshot) -> None:
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


def _check_jobs(s: Snapshot) -> None:
    keys = s.job_keys
    if len(set(keys)) != len(keys):
        dup = _first_duplicate(keys)
        if dup is not None:
            raise SnapshotError("job", dup, "job key listed twice")
    if not keys:
        return
    # One reduction per check; the failing row is looked for only when it finds something.
    if _min(s.job_accel, None) < 1:
        _first_bad_job(s, s.job_accel < 1, "accelerators must be ≥ 1")
    if _min(s.job_nodes, None) < 1:
        _first_bad_job(s, s.job_nodes < 1, "nodes must be ≥ 1")
    if not _min(s.job_min_mem, None) >= 0:  # the minimum is NaN when any row is
        _first_bad_job(s, ~(s.job_min_mem >= 0), "min memory must be ≥ 0")
    submit = s.job_submit  # the minimum is NaN when any row is, or -inf; the maximum +inf
    if not (math.isfinite(_min(submit, None)) and math.isfinite(_max(submit, None))):
        _first_bad_job(s, ~np.isfinite(s.job_submit), "submit time must be finite")


def _validate(s: Snapshot, known: bool, defaulted: set[str]) -> None:
    _check_shapes(s, known)
    _check_nodes(s, known)
    _check_jobs(s)
    _check_optional(s, defaulted)
    now = s.now
    if not (type(now) is float and math.isfinite(now)) and not np.isfinite(now):
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
