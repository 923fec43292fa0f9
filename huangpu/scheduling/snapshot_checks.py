"""Checks and defaults a ``Snapshot`` applies to itself when built.

``fill_optional`` gives unset optional columns their neutral default; ``validate`` checks every
column and raises ``SnapshotError`` naming the first bad object; ``layout_key`` is what the
snapshot's cache of valid node layouts is keyed on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from huangpu.scheduling.snapshot_types import (
    IntArray,
    SnapshotError,
    constant,
    empty_array,
    frozen_array,
)

if TYPE_CHECKING:
    from huangpu.scheduling.snapshot import Snapshot

__all__ = ["EMPTY_FLOAT", "EMPTY_INT", "fill_optional", "layout_key", "validate"]

# ufunc reductions without ndarray.min's Python wrapper (NaN propagates, as with .min()).
_min = np.minimum.reduce
_max = np.maximum.reduce
_fmin = np.fmin.reduce  # ignores NaN (an unknown runtime or work)

# Unset optional columns: the shared read-only empty arrays (their identity marks them unset).
EMPTY_INT, EMPTY_FLOAT = empty_array(np.int64), empty_array(np.float64)
_EMPTY: dict[type[np.generic], Any] = {np.int64: EMPTY_INT, np.float64: EMPTY_FLOAT}


def layout_key(s: Snapshot, layout: dict[str, Any]) -> tuple[Any, ...] | None:
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


def fill_optional(s: Snapshot) -> set[str]:
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


def validate(s: Snapshot, known: bool, defaulted: set[str]) -> None:
    _check_shapes(s, known)
    _check_nodes(s, known)
    _check_jobs(s)
    _check_optional(s, defaulted)
    now = s.now
    if not (type(now) is float and math.isfinite(now)) and not np.isfinite(now):
        raise SnapshotError("snapshot", "now", f"now must be finite, got {s.now}")
