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
from typing import Any

import numpy as np

from huangpu.scheduling.snapshot_types import (
    BoolArray,
    FloatArray,
    IntArray,
    SnapshotError,
    frozen_array,
)

INF = float("inf")


def _empty(dtype: type[np.generic], ndim: int = 1) -> Any:
    return np.zeros((0,) * ndim, dtype=dtype)


def _shape(kind: str, name: str, array: Any, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise SnapshotError(kind, name, f"has shape {array.shape}, expected {shape}")


def _not_negative(kind: str, name: str, array: Any) -> None:
    if np.any(~(array >= 0)):
        raise SnapshotError(kind, name, "must be ≥ 0 (and not NaN)")


@dataclass(frozen=True, eq=False)
class Market:
    classes: tuple[str, ...] = ("default",)
    throughput: FloatArray = field(default_factory=lambda: _empty(np.float64, 2))  # class × chip
    chip_ncu: FloatArray = field(default_factory=lambda: _empty(np.float64))  # chip
    price_fen: IntArray = field(default_factory=lambda: _empty(np.int64, 2))  # pool × chip
    subsidy_bp: IntArray = field(default_factory=lambda: _empty(np.int64, 2))  # org × chip

    def resolve(self, n_chips: int, n_pools: int, n_orgs: int) -> Market:
        """The same tables, with unset ones at their neutral default, validated and read-only."""
        n_classes = len(self.classes)
        tput = np.asarray(self.throughput, dtype=np.float64)
        if tput.size == 0:
            tput = np.ones((n_classes, n_chips))
        ncu = np.asarray(self.chip_ncu, dtype=np.float64)
        if ncu.size == 0:
            ncu = np.ones(n_chips)
        price = np.asarray(self.price_fen, dtype=np.int64)
        if price.size == 0:
            price = np.zeros((n_pools, n_chips), dtype=np.int64)
        sub = np.asarray(self.subsidy_bp, dtype=np.int64)
        if sub.size == 0:
            sub = np.zeros((n_orgs, n_chips), dtype=np.int64)
        _shape("market", "throughput", tput, (n_classes, n_chips))
        _shape("market", "chip_ncu", ncu, (n_chips,))
        _shape("market", "price_fen", price, (n_pools, n_chips))
        _shape("market", "subsidy_bp", sub, (n_orgs, n_chips))
        for name, array in (("throughput", tput), ("chip_ncu", ncu), ("price_fen", price)):
            _not_negative("market", name, array)
        if np.any(~np.isfinite(tput)):
            raise SnapshotError("market", "throughput", "rates must be finite")
        if np.any((sub < 0) | (sub > 10_000)):
            raise SnapshotError("market", "subsidy_bp", "must be 0..10,000 basis points")
        return replace(
            self,
            throughput=frozen_array(tput, np.float64),
            chip_ncu=frozen_array(ncu, np.float64),
            price_fen=frozen_array(price, np.int64),
            subsidy_bp=frozen_array(sub, np.int64),
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
        families = self.families or chips
        fam = np.asarray(self.chip_family, dtype=np.int64)
        if fam.size == 0:
            if self.families:
                raise SnapshotError("quotas", "chip_family", "families given without chip_family")
            fam = np.arange(len(chips), dtype=np.int64)
        _shape("quotas", "chip_family", fam, (len(chips),))
        if np.any((fam < 0) | (fam >= len(families))):
            raise SnapshotError("quotas", "chip_family", "family index out of range")
        grid = (n_orgs, len(families))

        def table(value: Any, default: float) -> FloatArray:
            arr = np.asarray(value, dtype=np.float64)
            return np.full(grid, default) if arr.size == 0 else arr

        nominal = table(self.nominal, INF)
        borrow = table(self.borrow_limit, INF)
        lend = table(self.lend_limit, INF)
        for name, arr in (("nominal", nominal), ("borrow_limit", borrow), ("lend_limit", lend)):
            _shape("quotas", name, arr, grid)
            _not_negative("quotas", name, arr)
        cohort = np.asarray(self.cohort, dtype=np.int64)
        cohort = np.full(n_orgs, -1, dtype=np.int64) if cohort.size == 0 else cohort
        blocked = np.asarray(self.blocked, dtype=np.bool_)
        blocked = np.zeros(n_orgs, dtype=np.bool_) if blocked.size == 0 else blocked
        reasons = self.block_reason or ("",) * n_orgs
        weight = np.asarray(self.weight, dtype=np.float64)
        weight = np.ones(n_orgs) if weight.size == 0 else weight
        usage = np.asarray(self.decayed_usage, dtype=np.float64)
        usage = np.zeros(n_orgs) if usage.size == 0 else usage
        per_org: tuple[tuple[str, Any], ...] = (
            ("cohort", cohort),
            ("blocked", blocked),
            ("weight", weight),
        )
        for name, column in per_org:
            _shape("quotas", name, column, (n_orgs,))
        _shape("quotas", "decayed_usage", usage, (n_orgs,))
        if len(reasons) != n_orgs:
            raise SnapshotError("quotas", "block_reason", f"has {len(reasons)} rows, not {n_orgs}")
        if np.any(cohort < -1):
            raise SnapshotError("quotas", "cohort", "cohort must be ≥ 0, or -1 for none")
        if np.any(~(weight > 0)) or np.any(~np.isfinite(weight)):
            raise SnapshotError("quotas", "weight", "weights must be finite and > 0")
        _not_negative("quotas", "decayed_usage", usage)
        return replace(
            self,
            families=families,
            chip_family=frozen_array(fam, np.int64),
            nominal=frozen_array(nominal, np.float64),
            borrow_limit=frozen_array(borrow, np.float64),
            lend_limit=frozen_array(lend, np.float64),
            cohort=frozen_array(cohort, np.int64),
            blocked=frozen_array(blocked, np.bool_),
            block_reason=tuple(reasons),
            weight=frozen_array(weight, np.float64),
            decayed_usage=frozen_array(usage, np.float64),
        )

    @property
    def enforced(self) -> bool:
        return bool(np.isfinite(self.nominal).any())


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
                arr = np.ones(r, dtype=np.bool_) if name == "preemptible" else arr
            _shape("running", name, arr, (r,))
            cols[name] = frozen_array(arr, dtype)
        a = len(self.alloc_run)
        for name in ("alloc_run", "alloc_node", "alloc_count"):
            arr = np.asarray(getattr(self, name), dtype=np.int64)
            _shape("running", name, arr, (a,))
            cols[name] = frozen_array(arr, np.int64)
        if len(set(self.keys)) != r:
            dup = next(k for k in self.keys if self.keys.count(k) > 1)
            raise SnapshotError("running job", dup, "listed twice")
        bad = np.flatnonzero((cols["org"] < 0) | (cols["org"] >= n_orgs))
        if bad.size:
            raise SnapshotError("running job", self.keys[int(bad[0])], "org index out of range")
        bad = np.flatnonzero((cols["alloc_run"] < 0) | (cols["alloc_run"] >= r))
        if bad.size:
            raise SnapshotError("running", "alloc_run", f"row {int(bad[0])} names no running job")
        for i in range(a):
            node, count = int(cols["alloc_node"][i]), int(cols["alloc_count"][i])
            key = self.keys[int(cols["alloc_run"][i])]
            if not 0 <= node < n_nodes:
                raise SnapshotError("running job", key, f"node index {node} out of range")
            if count < 1:
                raise SnapshotError("running job", key, f"holds {count} devices on a node")
        return replace(self, **cols)

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
        return replace(
            self, node_rows=frozen_array(rows, np.int64), hold=frozen_array(hold, np.int64)
        )

    @property
    def active(self) -> bool:
        return bool(len(self.node_rows))
