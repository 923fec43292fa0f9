"""Optional snapshot tables: market (speed, price, subsidy), quotas and fair share, running jobs.

Each table has an "unset" form (empty arrays), which ``resolve`` turns into the neutral
default for the snapshot's dimensions: every chip equally fast, free of charge, no quotas, no
running jobs. So a snapshot built without them schedules exactly as before.

Units, so the policies agree:
- rates are progress units per second per accelerator (``throughput.py``);
- NCU is normalised compute: one A100 on the default workload class is 1.0;
- prices are integer fen per accelerator-hour, subsidies basis points of the rent (0..10,000);
- quotas and usage are NCU (accelerators × NCU per accelerator), per org and chip family.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

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

INF = float("inf")

# ufunc reductions without ndarray.min's Python wrapper (NaN propagates, as with .min()).
_min = np.minimum.reduce
_max = np.maximum.reduce
_T = TypeVar("_T")


def _empty(dtype: type[np.generic], ndim: int = 1) -> Any:
    return empty_array(dtype, ndim)  # shared and read-only: its identity marks a table unset


def _shape(kind: str, name: str, array: Any, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise SnapshotError(kind, name, f"has shape {array.shape}, expected {shape}")


def _not_negative(kind: str, name: str, array: Any) -> None:
    if array.size and not _min(array, None) >= 0:  # the minimum is NaN when any entry is
        raise SnapshotError(kind, name, "must be ≥ 0 (and not NaN)")


def _evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for the tables below, without its per-field overhead: they have
    only init fields and no ``__post_init__``, so copying the instance dict is the same."""
    if type(obj) not in _TABLES:  # a subclass may add its own __init__ logic
        return replace(obj, **changes)  # type: ignore[type-var]
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


_EMPTY_INT, _EMPTY_FLOAT, _EMPTY_BOOL = _empty(np.int64), _empty(np.float64), _empty(np.bool_)
_EMPTY_GRID = _empty(np.float64, 2)


def _frozen(array: Any, dtype: type[np.generic]) -> Any:
    """``frozen_array``, sharing one read-only empty column for the (common) empty case."""
    if array.shape == (0,):
        return _empty(dtype)
    return frozen_array(array, dtype)


def _given(value: Any, dtype: type[np.generic]) -> Any:
    """The table as an array of ``dtype``, or None when it is unset (empty)."""
    if type(value) is np.ndarray and value.size == 0:
        return None  # an empty array converts to an empty one: skip the conversion
    array = np.asarray(value, dtype=dtype)
    return None if array.size == 0 else array


def _signature(array: Any) -> tuple[tuple[int, ...], bytes]:
    return array.shape, array.tobytes()


# Market.resolve's class/chip/pool tables (throughput, chip_ncu, price_fen) as last given and
# found valid, with their frozen results: the simulator and the control loop pass the same
# tables every cycle, so they are checked once. Keyed on the given values (sizes, shapes and
# bytes); identity counts only for those frozen results themselves (a resolved market passed
# again), which are read-only and held by nobody else.
_last_market: tuple[tuple[Any, ...], tuple[Any, Any, Any]] | None = None


@dataclass(frozen=True, eq=False)
class Market:
    classes: tuple[str, ...] = ("default",)
    throughput: FloatArray = field(default_factory=lambda: _empty(np.float64, 2))  # class × chip
    chip_ncu: FloatArray = field(default_factory=lambda: _empty(np.float64))  # chip
    price_fen: IntArray = field(default_factory=lambda: _empty(np.int64, 2))  # pool × chip
    subsidy_bp: IntArray = field(default_factory=lambda: _empty(np.int64, 2))  # org × chip

    def resolve(self, n_chips: int, n_pools: int, n_orgs: int) -> Market:
        """The same tables, with unset ones at their neutral default, validated and read-only."""
        global _last_market
        sizes = (len(self.classes), n_chips, n_pools)
        last = _last_market
        key: tuple[Any, ...] | None = None
        if (
            last is not None
            and last[0][:3] == sizes
            and self.throughput is last[1][0]
            and self.chip_ncu is last[1][1]
            and self.price_fen is last[1][2]
        ):  # the very tables resolved last time (read-only, ours): a resolved market again
            known = True
            tput, ncu, price = last[1]
            sub = np.asarray(self.subsidy_bp, dtype=np.int64)
        else:
            tput = np.asarray(self.throughput, dtype=np.float64)
            ncu = np.asarray(self.chip_ncu, dtype=np.float64)
            price = np.asarray(self.price_fen, dtype=np.int64)
            sub = np.asarray(self.subsidy_bp, dtype=np.int64)
            key = (*sizes, _signature(tput), _signature(ncu), _signature(price))
            known = last is not None and last[0] == key
            if known:
                assert last is not None
                tput, ncu, price = last[1]
        sub_default = sub.size == 0
        if sub_default:
            sub = constant((n_orgs, n_chips), np.int64, 0)
        if not known:
            n_classes = sizes[0]
            if tput.size == 0:
                tput = np.ones((n_classes, n_chips))
            if ncu.size == 0:
                ncu = np.ones(n_chips)
            if price.size == 0:
                price = np.zeros((n_pools, n_chips), dtype=np.int64)
            _shape("market", "throughput", tput, (n_classes, n_chips))
            _shape("market", "chip_ncu", ncu, (n_chips,))
            _shape("market", "price_fen", price, (n_pools, n_chips))
        _shape("market", "subsidy_bp", sub, (n_orgs, n_chips))
        if not known:
            for name, array in (("throughput", tput), ("chip_ncu", ncu), ("price_fen", price)):
                _not_negative("market", name, array)
            if np.any(~np.isfinite(tput)):
                raise SnapshotError("market", "throughput", "rates must be finite")
            tput = frozen_array(tput, np.float64)
            ncu = frozen_array(ncu, np.float64)
            price = frozen_array(price, np.int64)
            assert key is not None
            _last_market = (key, (tput, ncu, price))
        if not sub_default:
            if sub.size and (_min(sub, None) < 0 or _max(sub, None) > 10_000):
                raise SnapshotError("market", "subsidy_bp", "must be 0..10,000 basis points")
            sub = frozen_array(sub, np.int64)
        return _evolve(self, throughput=tput, chip_ncu=ncu, price_fen=price, subsidy_bp=sub)


# Quotas' per-org columns: name, dtype and the neutral default when unset.
_PER_ORG: tuple[tuple[str, type[np.generic], Any], ...] = (
    ("cohort", np.int64, -1),
    ("blocked", np.bool_, False),
    ("weight", np.float64, 1.0),
    ("decayed_usage", np.float64, 0.0),
)


@dataclass(frozen=True, eq=False)
class Quotas:
    """Kueue-style quotas per (org, chip family) in NCU, cohorts, the ledger's budget stops and
    the fair-share inputs. ``nominal`` unset means no quota anywhere (every entry infinite)."""

    families: tuple[str, ...] = ()
    chip_family: IntArray = field(default_factory=lambda: _empty(np.int64))  # chip -> family
    nominal: FloatArray = field(default_factory=lambda: _empty(np.float64, 2))  # org × family
    borrow_limit: FloatArray = field(default_factory=lambda: _empty(np.float64, 2))
    lend_limit: FloatArray = field(default_factory=lambda: _empty(np.float64, 2))
    cohort: IntArray = field(default_factory=lambda: _empty(np.int64))  # org -> cohort, -1 none
    blocked: BoolArray = field(default_factory=lambda: _empty(np.bool_))  # org: budget stop
    block_reason: tuple[str, ...] = ()  # org: what the ledger said, in words
    weight: FloatArray = field(default_factory=lambda: _empty(np.float64))  # org share weight
    decayed_usage: FloatArray = field(default_factory=lambda: _empty(np.float64))  # NCU·s

    @property
    def n_families(self) -> int:
        return len(self.families)

    def resolve(self, chips: tuple[str, ...], n_orgs: int) -> Quotas:
        # Unset tables take shared read-only defaults, valid by construction: only the tables
        # actually given are checked (in the same order as always) and copied.
        if (
            type(self) is Quotas
            and type(chips) is tuple
            and not self.families
            and not self.block_reason
            and self.chip_family is _EMPTY_INT
            and self.nominal is _EMPTY_GRID
            and self.borrow_limit is _EMPTY_GRID
            and self.lend_limit is _EMPTY_GRID
            and self.cohort is _EMPTY_INT
            and self.blocked is _EMPTY_BOOL
            and self.weight is _EMPTY_FLOAT
        ):
            # Only fair-share usage given, if anything (the simulator's case): the rest is the
            # neutral default for these chips and orgs, made once.
            usage = _given(self.decayed_usage, np.float64)
            if usage is not None:
                _shape("quotas", "decayed_usage", usage, (n_orgs,))
                _not_negative("quotas", "decayed_usage", usage)
            return _evolve(
                _quota_defaults(chips, n_orgs),
                decayed_usage=(
                    constant((n_orgs,), np.float64, 0.0)
                    if usage is None
                    else frozen_array(usage, np.float64)
                ),
            )
        return self._resolve(chips, n_orgs)

    def _resolve(self, chips: tuple[str, ...], n_orgs: int) -> Quotas:
        families = self.families or chips
        fam = _given(self.chip_family, np.int64)
        if fam is None:
            if self.families:
                raise SnapshotError("quotas", "chip_family", "families given without chip_family")
            fam = constant((len(chips),), np.int64, "arange")
        else:
            _shape("quotas", "chip_family", fam, (len(chips),))
            if np.any((fam < 0) | (fam >= len(families))):
                raise SnapshotError("quotas", "chip_family", "family index out of range")
            fam = frozen_array(fam, np.int64)
        grid = (n_orgs, len(families))
        tables = {
            "nominal": _given(self.nominal, np.float64),
            "borrow_limit": _given(self.borrow_limit, np.float64),
            "lend_limit": _given(self.lend_limit, np.float64),
        }
        for name, arr in tables.items():
            if arr is None:
                tables[name] = constant(grid, np.float64, INF)
            else:
                _shape("quotas", name, arr, grid)
                _not_negative("quotas", name, arr)
                tables[name] = frozen_array(arr, np.float64)
        per_org = {name: _given(getattr(self, name), dtype) for name, dtype, _ in _PER_ORG}
        reasons = self.block_reason or ("",) * n_orgs
        for name, arr in per_org.items():
            if arr is not None:
                _shape("quotas", name, arr, (n_orgs,))
        if len(reasons) != n_orgs:
            raise SnapshotError("quotas", "block_reason", f"has {len(reasons)} rows, not {n_orgs}")
        cohort, weight, usage = per_org["cohort"], per_org["weight"], per_org["decayed_usage"]
        if cohort is not None and np.any(cohort < -1):
            raise SnapshotError("quotas", "cohort", "cohort must be ≥ 0, or -1 for none")
        if weight is not None and (np.any(~(weight > 0)) or np.any(~np.isfinite(weight))):
            raise SnapshotError("quotas", "weight", "weights must be finite and > 0")
        if usage is not None:
            _not_negative("quotas", "decayed_usage", usage)
        for name, dtype, default in _PER_ORG:
            arr = per_org[name]
            per_org[name] = (
                constant((n_orgs,), dtype, default) if arr is None else frozen_array(arr, dtype)
            )
        return _evolve(
            self,
            families=families,
            chip_family=fam,
            **tables,
            **per_org,
            block_reason=tuple(reasons),
        )

    @property
    def enforced(self) -> bool:
        return bool(np.isfinite(self.nominal).any())


# Resolved default quotas (no quotas, no blocks, equal weights) per chip list and org count.
_DEFAULT_QUOTAS: dict[tuple[tuple[str, ...], int], Quotas] = {}


def _quota_defaults(chips: tuple[str, ...], n_orgs: int) -> Quotas:
    quotas = _DEFAULT_QUOTAS.get((chips, n_orgs))
    if quotas is None:
        quotas = Quotas()._resolve(chips, n_orgs)
        if len(_DEFAULT_QUOTAS) >= 256:
            _DEFAULT_QUOTAS.clear()
        _DEFAULT_QUOTAS[chips, n_orgs] = quotas
    return quotas


# Running's columns and their dtypes.
_RUN: tuple[tuple[str, type[np.generic]], ...] = (
    ("org", np.int64),
    ("priority", np.int64),
    ("start", np.float64),
    ("end", np.float64),
    ("preemptible", np.bool_),
    ("alloc_run", np.int64),
    ("alloc_node", np.int64),
    ("alloc_count", np.int64),
)


@dataclass(frozen=True, eq=False)
class Running:
    """Jobs holding devices now: what backfill waits for, preemption may evict, quotas count.

    One row per running job; its devices are given per node in the flat ``alloc_*`` columns
    (``alloc_run`` is the running row, ``alloc_node`` the snapshot node row).
    """

    keys: tuple[str, ...] = ()
    org: IntArray = field(default_factory=lambda: _empty(np.int64))
    priority: IntArray = field(default_factory=lambda: _empty(np.int64))
    start: FloatArray = field(default_factory=lambda: _empty(np.float64))
    end: FloatArray = field(default_factory=lambda: _empty(np.float64))  # expected; inf unknown
    preemptible: BoolArray = field(default_factory=lambda: _empty(np.bool_))
    alloc_run: IntArray = field(default_factory=lambda: _empty(np.int64))
    alloc_node: IntArray = field(default_factory=lambda: _empty(np.int64))
    alloc_count: IntArray = field(default_factory=lambda: _empty(np.int64))

    def resolve(self, n_nodes: int, n_orgs: int) -> Running:
        if (
            not self.keys
            and self.org is _EMPTY_INT
            and self.priority is _EMPTY_INT
            and self.start is _EMPTY_FLOAT
            and self.end is _EMPTY_FLOAT
            and self.preemptible is _EMPTY_BOOL
            and self.alloc_run is _EMPTY_INT
            and self.alloc_node is _EMPTY_INT
            and self.alloc_count is _EMPTY_INT
        ):
            return self  # no running jobs, and every column already the shared empty one
        r = len(self.keys)
        cols: dict[str, Any] = {}
        for name, dtype in (
            ("org", np.int64),
            ("priority", np.int64),
            ("start", np.float64),
            ("end", np.float64),
            ("preemptible", np.bool_),
        ):
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.size == 0 and r:
                arr = constant((r,), np.bool_, True) if name == "preemptible" else arr
            _shape("running", name, arr, (r,))
            cols[name] = _frozen(arr, dtype)
        a = len(self.alloc_run)
        for name in ("alloc_run", "alloc_node", "alloc_count"):
            arr = np.asarray(getattr(self, name), dtype=np.int64)
            _shape("running", name, arr, (a,))
            cols[name] = _frozen(arr, np.int64)
        if len(set(self.keys)) != r:
            dup = next(k for k in self.keys if self.keys.count(k) > 1)
            raise SnapshotError("running job", dup, "listed twice")
        if r:
            bad = np.flatnonzero((cols["org"] < 0) | (cols["org"] >= n_orgs))
            if bad.size:
                raise SnapshotError("running job", self.keys[int(bad[0])], "org index out of range")
        if a:
            run, node, count = cols["alloc_run"], cols["alloc_node"], cols["alloc_count"]
            bad = np.flatnonzero((run < 0) | (run >= r))
            if bad.size:
                raise SnapshotError(
                    "running", "alloc_run", f"row {int(bad[0])} names no running job"
                )
            # The first allocation that is wrong either way, reported as a row-by-row check would.
            bad = np.flatnonzero((node < 0) | (node >= n_nodes) | (count < 1))
            if bad.size:
                i = int(bad[0])
                key = self.keys[int(run[i])]
                if not 0 <= int(node[i]) < n_nodes:
                    raise SnapshotError(
                        "running job", key, f"node index {int(node[i])} out of range"
                    )
                raise SnapshotError("running job", key, f"holds {int(count[i])} devices on a node")
        return _evolve(self, **cols)

    @property
    def n(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, eq=False)
class Held:
    """The EASY reservation carried over from the previous cycle (incremental cycles).

    When nothing was freed since that cycle, the jobs that waited then still cannot start, so
    an incremental cycle schedules only new arrivals: they must respect the head job's
    reservation exactly as its own cycle left it. ``node_rows`` are snapshot node rows of one
    cell and ``hold`` the free devices on each that only jobs ending by ``start`` may use.
    """

    head: str = ""
    start: float = INF
    node_rows: IntArray = field(default_factory=lambda: _empty(np.int64))
    hold: IntArray = field(default_factory=lambda: _empty(np.int64))

    def resolve(self, node_pool: IntArray, node_chip: IntArray) -> Held:
        empty = _empty(np.int64)
        if self.node_rows is empty and self.hold is empty:
            return self  # nothing held: both columns already the shared empty one
        rows = np.asarray(self.node_rows, dtype=np.int64)
        hold = np.asarray(self.hold, dtype=np.int64)
        _shape("held", "hold", hold, rows.shape)
        _not_negative("held", "hold", hold)
        if rows.size:
            if not self.head:
                raise SnapshotError("held", "head", "a carried reservation needs its head job")
            if np.any((rows < 0) | (rows >= len(node_pool))):
                raise SnapshotError("held", self.head, "reserved node row out of range")
            if len({(int(node_pool[r]), int(node_chip[r])) for r in rows.tolist()}) != 1:
                raise SnapshotError("held", self.head, "reserved nodes must share pool and chip")
        return _evolve(self, node_rows=_frozen(rows, np.int64), hold=_frozen(hold, np.int64))

    @property
    def active(self) -> bool:
        return bool(len(self.node_rows))


_TABLES = (Market, Quotas, Running, Held)
