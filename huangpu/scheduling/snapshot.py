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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from huangpu.core.errors import HuangpuError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class SnapshotError(HuangpuError):
    """The snapshot handed to scheduling is inconsistent: a bug upstream, never user input.

    ``kind`` is the kind of object at fault ("node", "job" or "snapshot" for whole columns)
    and ``object_key`` names it, so the operator can find the row in the store.
    """

    code = "invalid_snapshot"
    http_status = 500

    def __init__(self, kind: str, object_key: str, message: str) -> None:
        super().__init__(f"{kind} {object_key!r}: {message}", object_key)
        self.kind = kind
        self.object_key = object_key


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

    def __post_init__(self) -> None:
        # Copy so a caller's array can never change a snapshot a cycle is reading.
        for name, dtype in _DTYPES.items():
            column = np.array(getattr(self, name), dtype=dtype, copy=True)
            column.setflags(write=False)
            object.__setattr__(self, name, column)
        _validate(self)

    @property
    def n_nodes(self) -> int:
        return len(self.node_keys)

    @property
    def n_jobs(self) -> int:
        return len(self.job_keys)

    def describe(self) -> str:
        return (
            f"Snapshot({len(self.pools)} pools, {self.n_nodes} nodes, "
            f"{int(self.node_free.sum())} free devices, {self.n_jobs} jobs, now={self.now})"
        )


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
    ) -> SnapshotBuilder:
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
            )
        )
        return self

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
        )
