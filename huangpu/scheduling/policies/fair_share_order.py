"""Orders and placements shared by the fair-share policies (``las``, ``max-min-share``,
``las-hetero``): who goes first by usage, and how a chosen set of nodes becomes a Placement.

Usage is ``quotas.decayed_usage`` (NCU·s per org, decayed by control with its half-life), so
with one job per org these are the per-job policies of the literature: least attained service
(Tiresias, Gavel's LAS) and equal time share (Gavel's ``max_min_fairness``).
"""

from __future__ import annotations

import zlib

import numpy as np

from huangpu.scheduling.feasibility import domain_counts, structural_reason
from huangpu.scheduling.result import Pending, PendingReason, Placement
from huangpu.scheduling.snapshot import BoolArray, FloatArray, IntArray, Snapshot


def ordered(s: Snapshot, score: FloatArray) -> IntArray:
    """Rows by priority (high first), then ``score`` (low first), submit time and key."""
    keys = np.array(s.job_keys, dtype=str)
    return np.lexsort((keys, s.job_submit, score, -s.job_priority)).astype(np.int64)


def attained(s: Snapshot) -> FloatArray:
    """Usage of each job's org over its weight: least attained service goes first."""
    q = s.quotas
    return np.asarray(q.decayed_usage[s.job_org] / q.weight[s.job_org], dtype=np.float64)


def share_rate(s: Snapshot) -> FloatArray:
    """Usage per second in the system, over the org's weight: an equal time share goes first
    to whoever has received the least of it (Gavel's round priority with equal allocations)."""
    first = np.full(s.n_orgs, np.inf)
    np.minimum.at(first, s.job_org, s.job_submit)
    age = np.maximum(s.now - first[s.job_org], 1.0)
    return attained(s) / age


def spread_pick(key: str, now: float, candidates: BoolArray, free: IntArray) -> int:
    """A node among ``candidates``, picked by a hash of (job, now) weighted by free devices:
    a chip-agnostic spread, deterministic for a snapshot, no RNG state in the policy."""
    rows = np.flatnonzero(candidates)
    weights = free[rows]
    total = int(weights.sum())
    pick = zlib.crc32(f"{key}@{now:.3f}".encode()) % total
    return int(rows[int(np.searchsorted(np.cumsum(weights), pick, side="right"))])


NO_ROOM = np.iinfo(np.int64).max


def best_fit_node(candidates: BoolArray, free: IntArray) -> int:
    """The candidate node with the fewest free devices (ties: first), keeping big holes whole."""
    room = np.where(candidates, free, NO_ROOM)
    return int(np.argmin(room))


def gang_nodes(s: Snapshot, candidates: BoolArray, nodes: int) -> IntArray | None:
    """``nodes`` candidate nodes in the interconnect domain with the fewest that still fit."""
    counts = domain_counts(s, candidates)
    big = np.flatnonzero(counts >= nodes)
    if not big.size:
        return None
    domain = int(big[np.argmin(counts[big])])
    return np.flatnonzero(candidates & (s.node_domain == domain))[:nodes].astype(np.int64)


def placement(s: Snapshot, job: int, rows: list[int], free: IntArray) -> Placement:
    accel = int(s.job_accel[job])
    devices: list[tuple[str, int]] = []
    for n in rows:
        # Free only shrinks by what this cycle took, lowest device indices first.
        used = int(s.node_free[n] - free[n])
        devices.extend((s.node_keys[n], d) for d in s.node_free_devices[n][used : used + accel])
    return Placement(
        job_key=s.job_keys[job],
        pool_index=int(s.node_pool[rows[0]]),
        node_keys=tuple(s.node_keys[n] for n in rows),
        devices=tuple(devices),
    )


def waiting(s: Snapshot, job: int, feasible: BoolArray, free: IntArray) -> Pending:
    """Why a job that did not fit waits. The structural checks are run only when they could
    fail (no feasible node, or a gang), so long queues stay cheap."""
    if not feasible.any() or int(s.job_nodes[job]) > 1:
        reason = structural_reason(s, job, None)
        if reason is not None:
            return reason
    accel = int(s.job_accel[job])
    args: dict[str, int | float | str] = {
        "accelerators": accel,
        "nodes": int(s.job_nodes[job]),
        "largest_free": int(np.where(feasible, free, 0).max(initial=0)),
    }
    return Pending(s.job_keys[job], PendingReason.WAITING_FOR_CAPACITY, args)
