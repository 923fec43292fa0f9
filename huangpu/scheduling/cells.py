"""Nodes grouped into cells, one per (pool, chip model): the unit the fast policies score.

A city has ~10,000 nodes but only ~100 (pool, chip) cells, so scoring every job against every
cell is a small dense numpy pass; only the chosen cell's few hundred nodes are looked at to
pick nodes. A gang never spans cells: one pool, one chip model, one interconnect domain.

``CellState`` is the cycle's mutable view (free devices per node, largest free block per cell,
and devices held back for the backfill reservation). Node choice inside a cell:
- one node: best fit, the node with the fewest free devices that still fits (ties: first),
  so whole nodes stay whole for 8-accelerator jobs;
- a gang: the interconnect domain with the fewest fitting nodes that is still large enough
  (keeps big domains for big gangs), then its nodes with the fewest free devices.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot

_NO_ROOM = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class Cells:
    pool: IntArray  # cell -> pool
    chip: IntArray  # cell -> chip
    nodes: tuple[IntArray, ...]  # cell -> its node rows, ascending
    local_domain: tuple[IntArray, ...]  # cell -> per node, domain numbered 0.. inside the cell
    mem_min: FloatArray
    mem_max: FloatArray
    max_domain_nodes: IntArray  # cell -> most nodes any one of its domains holds
    n_domains: IntArray  # cell -> how many domains it has
    node_cell: IntArray  # node -> cell

    @property
    def n(self) -> int:
        return len(self.pool)

    # Plain-int views for the per-job loops, built once per layout (``build_cells`` keeps
    # the last one): cell -> node rows, node -> cell, cell -> least node memory.
    @cached_property
    def rows_py(self) -> list[list[int]]:
        return [r.tolist() for r in self.nodes]

    @cached_property
    def node_cell_py(self) -> list[int]:
        return list(self.node_cell.tolist())

    @cached_property
    def mem_min_py(self) -> list[float]:
        return list(self.mem_min.tolist())


# The last node layout and its cells: a simulator (or a control loop between node changes)
# offers the same nodes every cycle, so their grouping is built once. Cells is never written.
_last_cells: tuple[tuple[int, bytes, bytes, bytes, bytes], Cells] | None = None


def build_cells(s: Snapshot) -> Cells:
    global _last_cells
    layout = (
        len(s.chips),
        s.node_pool.tobytes(),
        s.node_chip.tobytes(),
        s.node_domain.tobytes(),
        s.node_mem_gib.tobytes(),
    )
    if _last_cells is not None and _last_cells[0] == layout:
        return _last_cells[1]
    cells = _build_cells(s)
    for array in (
        cells.pool, cells.chip, *cells.nodes, *cells.local_domain, cells.mem_min,
        cells.mem_max, cells.max_domain_nodes, cells.n_domains, cells.node_cell,
    ):  # fmt: skip
        array.setflags(write=False)  # shared by later cycles: read-only
    _last_cells = (layout, cells)
    return cells


def _build_cells(s: Snapshot) -> Cells:
    key = s.node_pool * max(len(s.chips), 1) + s.node_chip
    order = np.argsort(key, kind="stable")
    keys, starts = np.unique(key[order], return_index=True)
    bounds = [*starts.tolist(), s.n_nodes]
    nodes = tuple(order[bounds[i] : bounds[i + 1]].astype(np.int64) for i in range(len(keys)))
    local: list[IntArray] = []
    max_dom: list[int] = []
    for rows in nodes:
        _, codes, counts = np.unique(s.node_domain[rows], return_inverse=True, return_counts=True)
        local.append(codes.astype(np.int64))
        max_dom.append(int(counts.max()))
    node_cell = np.zeros(s.n_nodes, dtype=np.int64)
    for c, rows in enumerate(nodes):
        node_cell[rows] = c
    mem = s.node_mem_gib
    return Cells(
        pool=(keys // max(len(s.chips), 1)).astype(np.int64),
        chip=(keys % max(len(s.chips), 1)).astype(np.int64),
        nodes=nodes,
        local_domain=tuple(local),
        mem_min=np.array([mem[r].min() for r in nodes], dtype=np.float64),
        mem_max=np.array([mem[r].max() for r in nodes], dtype=np.float64),
        max_domain_nodes=np.array(max_dom, dtype=np.int64),
        n_domains=np.array([int(codes.max()) + 1 for codes in local], dtype=np.int64),
        node_cell=node_cell,
    )


class CellState:
    def __init__(self, s: Snapshot, cells: Cells) -> None:
        self.s = s
        self.cells = cells
        self.free = s.node_free.copy()
        self.hold = np.zeros(s.n_nodes, dtype=np.int64)  # free devices kept for the head job
        self.dead: set[tuple[int, int, int, float, bool, bool]] = set()
        self.max_free = np.array(
            [int(self.free[r].max()) for r in cells.nodes], dtype=np.int64
        ).reshape(cells.n)
        # Plain-int mirrors for the one-node fast paths (a cell holds a few nodes, where a
        # Python loop beats numpy's per-call overhead); ``take`` keeps them in step.
        self._free0: list[int] = s.node_free.tolist()
        self._free_py: list[int] = list(self._free0)
        self._rows_py = cells.rows_py
        self._node_cell = cells.node_cell_py
        self._mem_min_py = cells.mem_min_py
        self.max_free_py: list[int] = self.max_free.tolist()  # ``max_free``, as plain ints
        # Per cell, built when first asked: its nodes by free devices (level -> rows, in row
        # order), so a best fit looks at a few levels rather than at every node.
        self._levels: list[list[list[int]] | None] = [None] * cells.n

    def fit(
        self,
        c: int,
        accel: int,
        nodes: int,
        min_mem: float,
        free: IntArray | None = None,
        held: bool = False,
    ) -> IntArray | None:
        """Node rows for ``nodes`` × ``accel`` in cell ``c`` (see module doc), or None.

        ``held``: leave the devices held for the head job's reservation alone (long jobs).
        """
        if nodes == 1 and free is None and not held and not min_mem > self._mem_min_py[c]:
            return self._best_one(c, accel)
        mem_key = min_mem if min_mem > self.cells.mem_min[c] else 0.0
        key = (c, accel, nodes, mem_key, held, free is None)
        if free is None or free is self.s.node_free:
            # Free devices only shrink during a cycle (and a hold only grows for long jobs),
            # so a shape that did not fit a cell never will again: remember it.
            if key in self.dead:
                return None
            found = self._fit(c, accel, nodes, min_mem, free, held)
            if found is None:
                self.dead.add(key)
            return found
        return self._fit(c, accel, nodes, min_mem, free, held)

    def _best_one(self, c: int, accel: int) -> IntArray | None:
        """``_fit`` for one node on the cycle's free devices, no hold, no memory filter: the
        same best fit (fewest free devices that fit, ties first). No need for the dead-shape
        memo: free devices only shrink, so the answer stays None."""
        n = self.best_node(c, accel)
        return None if n < 0 else np.array([n], dtype=np.int64)

    def best_node(self, c: int, accel: int) -> int:
        """The row ``_best_one`` picks, or -1."""
        levels = self._levels[c] or self._build_levels(c)
        for level in range(accel, len(levels)):
            if levels[level]:
                return levels[level][0]
        return -1

    def _build_levels(self, c: int) -> list[list[int]]:
        fl = self._free_py
        levels: list[list[int]] = [[] for _ in range(self.max_free_py[c] + 1)]
        for n in self._rows_py[c]:
            levels[fl[n]].append(n)
        self._levels[c] = levels
        return levels

    def take_one(self, n: int, accel: int, short: bool) -> list[tuple[str, int]]:
        """``take`` on one node (row ``n``), over the plain-int mirrors."""
        s = self.s
        left = self._free_py[n]
        used = self._free0[n] - left
        if accel == 1:
            one = [(s.node_keys[n], s.node_free_devices[n][used])]
        else:
            key = s.node_keys[n]
            one = [(key, d) for d in s.node_free_devices[n][used : used + accel]]
        self._set_free(n, left - accel)
        if short:
            self.hold[n] = max(int(self.hold[n]) - accel, 0)
        return one

    def _set_free(self, n: int, left: int) -> None:
        """Node ``n`` now has ``left`` free devices: keep the mirrors and its cell's largest
        free block in step."""
        was = self._free_py[n]
        self._free_py[n] = left
        self.free[n] = left
        c = self._node_cell[n]
        levels = self._levels[c]
        if levels is not None:
            levels[was].remove(n)
            insort(levels[left], n)
            if was == self.max_free_py[c] and not levels[was]:
                top = was
                while top > 0 and not levels[top]:
                    top -= 1
                self.max_free[c] = self.max_free_py[c] = top
        elif was >= self.max_free_py[c]:  # it held the cell's largest free block: recount
            fl = self._free_py
            self.max_free[c] = self.max_free_py[c] = max([fl[r] for r in self._rows_py[c]])

    def _fit(
        self, c: int, accel: int, nodes: int, min_mem: float, free: IntArray | None, held: bool
    ) -> IntArray | None:
        rows = self.cells.nodes[c]
        f = (self.free if free is None else free)[rows]
        if held:
            f = f - self.hold[rows]
        ok = f >= accel
        if min_mem > self.cells.mem_min[c]:
            ok &= self.s.node_mem_gib[rows] >= min_mem
        if nodes == 1:
            # Best fit in one pass: the fewest free devices among nodes that fit.
            masked = np.where(ok, f, _NO_ROOM)
            best = int(masked.argmin())
            return rows[best : best + 1] if ok[best] else None
        local = self.cells.local_domain[c]
        counts = np.bincount(local[ok], minlength=int(self.cells.n_domains[c]))
        big = np.flatnonzero(counts >= nodes)
        if not big.size:
            return None
        domain = int(big[np.argmin(counts[big])])
        members = np.flatnonzero(ok & (local == domain))
        chosen = members[np.argsort(f[members], kind="stable")[:nodes]]
        return np.sort(rows[chosen])

    def take(self, node_rows: IntArray, accel: int, short: bool) -> list[tuple[str, int]]:
        """Commit ``accel`` devices on each node: lowest free device indices first.

        ``short`` jobs end before the head job's reservation, so the devices they take from
        the held ones come back in time; the hold shrinks with them (EASY backfill).
        """
        if len(node_rows) == 1:
            return self.take_one(int(node_rows[0]), accel, short)
        s = self.s
        devices: list[tuple[str, int]] = []
        for n in node_rows.tolist():
            used = self._free0[n] - self._free_py[n]
            key = s.node_keys[n]
            devices.extend((key, d) for d in s.node_free_devices[n][used : used + accel])
            self._set_free(n, self._free_py[n] - accel)
        if short:
            self.hold[node_rows] = np.maximum(self.hold[node_rows] - accel, 0)
        return devices
