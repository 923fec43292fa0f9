"""EASY backfill: one reservation for the head of the queue, and the hold that protects it.

When the first job in queue order cannot start for lack of free devices, it becomes the *head*.
From the expected end times of running jobs (and of the jobs this cycle has just started) we
find the earliest time ``T`` at which some cell it may use fits it, and the nodes it will take.
From then on:
- a *short* job (expected to end by ``T``) may use any free device: it gives it back in time;
- a *long* job (ends after ``T``, or no estimate) may only use devices the head will not need:
  on each reserved node, ``hold = max(0, need − released by T)`` free devices stay free.
So no job started after the reservation can delay it. Unknown end times count as never, which
is why the operator should ask tenants for ``estimated_hours`` (or control fills history).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huangpu.scheduling.cells import CellState
from huangpu.scheduling.snapshot import FloatArray, IntArray


@dataclass(frozen=True)
class Hold:
    cell: int
    start: float  # T: when the head job starts at the latest
    node_rows: IntArray
    hold: IntArray  # per reserved node: free devices long jobs must leave alone


class Releases:
    """Devices coming back: node row, count, and when (inf: unknown). Appends are cheap; the
    arrays are built only when a reservation is computed (once per cycle)."""

    def __init__(self, node: IntArray, count: IntArray, time: FloatArray) -> None:
        self._base = (node, count, time)
        self._nodes: list[int] = []  # one entry per node a started job holds
        self._counts: list[int] = []
        self._times: list[float] = []

    def add(self, node_rows: IntArray, accel: int, end: float) -> None:
        for n in node_rows.tolist():
            self.add_one(n, accel, end)

    def add_one(self, node: int, accel: int, end: float) -> None:
        self._nodes.append(node)
        self._counts.append(accel)
        self._times.append(end)

    def arrays(self) -> tuple[IntArray, IntArray, FloatArray]:
        node, count, time = self._base
        if self._nodes:
            node = np.concatenate([node, np.array(self._nodes, dtype=np.int64)])
            count = np.concatenate([count, np.array(self._counts, dtype=np.int64)])
            time = np.concatenate([time, np.array(self._times, dtype=np.float64)])
        return node.astype(np.int64), count.astype(np.int64), time.astype(np.float64)


def reserve(
    state: CellState,
    cells: list[int],
    accel: int,
    nodes: int,
    min_mem: float,
    releases: Releases,
) -> Hold | None:
    """The earliest start for the head among ``cells`` (ranked best first), or None."""
    best: Hold | None = None
    rel_node, rel_count, rel_time = releases.arrays()
    known = np.isfinite(rel_time)
    rel_cell = state.cells.node_cell[rel_node]
    for c in cells:
        mine = known & (rel_cell == c)
        if not mine.any():
            continue
        if nodes == 1:
            one = _one_node(
                state, c, accel, min_mem, rel_node[mine], rel_count[mine], rel_time[mine]
            )
            if one is not None and (best is None or one.start < best.start):
                best = one
            continue
        times = np.unique(rel_time[mine])
        if best is not None:
            times = times[times < best.start]
            if not times.size:
                continue

        def free_at(t: float, mine: IntArray = mine) -> IntArray:
            f = state.free.copy()
            back = mine & (rel_time <= t)
            np.add.at(f, rel_node[back], rel_count[back])
            return f

        # Fit only grows with time (devices come back, none are taken), so bisect.
        lo, hi = 0, len(times) - 1
        if state.fit(c, accel, nodes, min_mem, free_at(float(times[hi]))) is None:
            continue
        while lo < hi:
            mid = (lo + hi) // 2
            if state.fit(c, accel, nodes, min_mem, free_at(float(times[mid]))) is None:
                lo = mid + 1
            else:
                hi = mid
        t = float(times[lo])
        f_t = free_at(t)
        rows = state.fit(c, accel, nodes, min_mem, f_t)
        assert rows is not None
        released = f_t[rows] - state.free[rows]
        best = Hold(c, t, rows, np.maximum(accel - released, 0).astype(np.int64))
    return best


def _one_node(
    state: CellState,
    c: int,
    accel: int,
    min_mem: float,
    node: IntArray,
    count: IntArray,
    time: FloatArray,
) -> Hold | None:
    """``reserve``'s answer in cell ``c`` for a one-node job, from each node's own releases:
    the earliest release after which some node has ``accel`` free devices, then the best fit
    at that time (as ``CellState.fit`` picks it). No bisection over the cell's times."""
    order = np.lexsort((time, node))
    node, count, time = node[order], count[order], time[order]
    # Devices back on each node by each of its releases, in time order.
    back = np.cumsum(count)
    first = np.ones(node.size, dtype=np.bool_)
    first[1:] = node[1:] != node[:-1]
    # minus what the node's earlier neighbours in the order gave back (counts are positive,
    # so the running maximum of the group starts is the current group's start)
    back -= np.maximum.accumulate(np.where(first, back - count, 0))
    ok = state.free[node] + back >= accel
    if min_mem > state.cells.mem_min[c]:
        ok &= state.s.node_mem_gib[node] >= min_mem
    if not ok.any():
        return None
    start = float(time[ok].min())
    then = time <= start
    by_then = np.bincount(node[then], count[then], state.s.n_nodes).astype(np.int64)
    found = state.fit(c, accel, 1, min_mem, state.free + by_then)
    assert found is not None  # some node fits at ``start``, by construction
    released = by_then[found]
    return Hold(c, start, found, np.maximum(accel - released, 0).astype(np.int64))
