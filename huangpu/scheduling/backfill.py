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
        self._rows: list[IntArray] = []
        self._counts: list[int] = []  # per add: accelerators on each of its nodes
        self._times: list[float] = []

    def add(self, node_rows: IntArray, accel: int, end: float) -> None:
        self._rows.append(node_rows)
        self._counts.append(accel)
        self._times.append(end)

    def arrays(self) -> tuple[IntArray, IntArray, FloatArray]:
        node, count, time = self._base
        if self._rows:
            sizes = np.fromiter((len(r) for r in self._rows), dtype=np.int64, count=len(self._rows))
            node = np.concatenate([node, *self._rows])
            count = np.concatenate([count, np.repeat(np.array(self._counts, np.int64), sizes)])
            time = np.concatenate([time, np.repeat(np.array(self._times, np.float64), sizes)])
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
