"""The cell engine: the cycle recipe the heterogeneity-, cost- and quota-aware policies share.

    1. Group nodes into (pool, chip) cells; copy free counts and quota usage.
    2. Order the queue (the policy: priority, fair share, finish-time fairness, ...).
    3. Per block of jobs, score every job × cell at once (``metrics``) and rank the cells
       (the policy's key: cost per unit of work, deadline, ...).
    4. Per job, in order: explain structural misfits, budget stops and price; else try its
       cells best first: quota (with cohort borrowing), then nodes (best fit, one domain),
       respecting the EASY reservation; place it, or give it its reason.
    5. The first job that waits for capacity becomes the head: reserve its earliest start.
    6. Preempt for waiting jobs, by priority and by quota reclaim (``preemption``).
    7. Stats.
Pure and deterministic: the same snapshot and policy give the same result.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from huangpu.scheduling.backfill import Hold, Releases, reserve
from huangpu.scheduling.cells import Cells, CellState, build_cells
from huangpu.scheduling.metrics import Block, block_metrics, rank_cells
from huangpu.scheduling.notes import placement_note, structural_pending
from huangpu.scheduling.preemption import Preemptor
from huangpu.scheduling.quota import QuotaState
from huangpu.scheduling.result import (
    ArgValue,
    CycleResult,
    CycleStats,
    Note,
    Pending,
    PendingReason,
    Placement,
    Preemption,
    PreemptReason,
    Reservation,
)
from huangpu.scheduling.snapshot import (
    BoolArray,
    FloatArray,
    IntArray,
    Snapshot,
    SnapshotError,
)

BLOCK = 1024


@runtime_checkable
class CellPolicy(Protocol):
    """A policy for the cell engine: a queue order and a per-(job, cell) ranking key."""

    name: str
    backfill: bool
    preemption: bool
    grace_s: float
    min_runtime_s: float
    max_preemptors: int

    def order(self, snapshot: Snapshot) -> IntArray: ...

    def rank_key(self, snapshot: Snapshot, block: Block, cells: Cells) -> FloatArray: ...


def _releases(s: Snapshot) -> Releases:
    r = s.running
    return Releases(r.alloc_node.copy(), r.alloc_count.copy(), r.end[r.alloc_run].copy())


class _BlockLists(NamedTuple):
    """A block's per-job columns as lists (row ``i`` of the block)."""

    ranked: list[list[int]]  # cells, best first
    allowed: list[list[bool]]  # ... whether each is allowed, in that order
    accel: list[int]
    nodes: list[int]
    org: list[int]
    mem: list[float]
    runtime: list[list[float]]  # per cell, in cell order
    fails: list[int]  # structural misfits (``Block.fails``)
    at_start: list[bool]  # some allowed cell had room when the cycle began
    first_then: list[int]  # ... the best-ranked such cell


class _Cycle:
    def __init__(self, s: Snapshot, policy: CellPolicy) -> None:
        self.s = s
        self.policy = policy
        self.cells = build_cells(s)
        self.state = CellState(s, self.cells)
        self.start_max_free = self.state.max_free.copy()
        self.quota = QuotaState(s)
        self.family = s.quotas.chip_family[self.cells.chip]
        self.cell_ncu = s.market.chip_ncu[self.cells.chip]
        self._ncu_py: list[float] = self.cell_ncu.tolist()
        self._family_py: list[int] = self.family.tolist()
        self._pool_py: list[int] = self.cells.pool.tolist()
        self._chip_py: list[int] = self.cells.chip.tolist()
        self._mem_min_py = self.cells.mem_min_py
        self.hold: Hold | None = None
        self.head: str | None = None
        self.releases = _releases(s)
        self.placements: list[Placement] = []
        self.pending: dict[int, Pending] = {}
        self.waiting: list[int] = []  # jobs pending for capacity, in order: preemption input
        self._lists = _BlockLists([], [], [], [], [], [], [], [], [], [])
        if s.held.active:
            # An incremental cycle: keep the reservation the last full cycle made.
            rows = s.held.node_rows
            self.head = s.held.head
            self.hold = Hold(int(self.cells.node_cell[rows[0]]), s.held.start, rows, s.held.hold)
            self.state.hold[rows] = np.minimum(s.held.hold, self.state.free[rows])

    def run(self) -> CycleResult:
        s = self.s
        # 2. Order the queue.
        order = np.asarray(self.policy.order(s), dtype=np.int64)
        if order.shape != (s.n_jobs,) or not np.array_equal(np.sort(order), np.arange(s.n_jobs)):
            raise SnapshotError("snapshot", "order", f"{self.policy.name!r} gave no permutation")
        for start in range(0, s.n_jobs, BLOCK):
            rows = order[start : start + BLOCK]
            # 3. Score the block.
            if not self.cells.n:
                for job in rows.tolist():
                    nothing = structural_pending(s, job, None, 0, self.cells)
                    assert nothing is not None  # no cells: no chip matches, by construction
                    self.pending[job] = nothing
                continue
            block = block_metrics(s, self.cells, rows)
            key = np.asarray(self.policy.rank_key(s, block, self.cells), dtype=np.float64)
            ranked = rank_cells(np.where(block.allowed, key, np.inf), block.speed)
            # 4. Decide, job by job. Free devices only shrink during the loop, so a job for
            #    which no allowed cell has a large enough free block now never gets one: once
            #    the head is chosen, such jobs are explained in a batch, not tried cell by cell.
            accel = s.job_accel[rows]
            allowed = block.allowed
            viable: BoolArray = np.any(allowed & (self.state.max_free >= accel[:, None]), axis=1)
            at_start: BoolArray = np.any(allowed & (self.start_max_free >= accel[:, None]), axis=1)
            room = np.where(allowed, self.state.max_free[None, :], -1)
            best = room.argmax(axis=1)
            fit_then = np.take_along_axis(
                allowed & (self.start_max_free[None, :] >= accel[:, None]), ranked, axis=1
            )
            first_then = ranked[np.arange(len(rows)), fit_then.argmax(axis=1)]
            # Plain lists for the per-job loop (numpy's per-element access dominates there).
            self._lists = _BlockLists(
                ranked.tolist(),
                np.take_along_axis(allowed, ranked, axis=1).tolist(),
                accel.tolist(),
                s.job_nodes[rows].tolist(),
                s.job_org[rows].tolist(),
                s.job_min_mem[rows].tolist(),
                block.runtime.tolist(),
                block.fails.tolist(),
                at_start.tolist(),
                first_then.tolist(),
            )
            fails, viable_l = self._lists.fails, viable.tolist()
            for i, job in enumerate(rows.tolist()):
                if fails[i] or viable_l[i] or (self.head is None and self.policy.backfill):
                    self._decide(job, i, block)
                elif s.job_nodes[job] == 1:
                    self.waiting.append(job)
                    where = int(first_then[i]) if at_start[i] else int(best[i])
                    self.pending[job] = self._capacity_pending(
                        job, bool(at_start[i]), where, int(room[i, best[i]])
                    )
                else:
                    cand = ranked[i][allowed[i, ranked[i]]]
                    self.pending[job] = self._waiting_reason(job, i, block, cand, None, False)
        # 6. Preempt for the jobs still waiting for capacity.
        preemptions = self._preempt() if self.policy.preemption and s.running.n else []
        return self._result(preemptions)

    def _decide(self, job: int, i: int, b: Block) -> None:
        s = self.s
        lists = self._lists
        if lists.fails[i]:
            structural = structural_pending(s, job, b, i, self.cells)
            assert structural is not None  # fails > 0 means some stage is empty
            self.pending[job] = structural
            return
        ranked, allowed = lists.ranked[i], lists.allowed[i]
        accel, nodes = lists.accel[i], lists.nodes[i]
        org, mem = lists.org[i], lists.mem[i]
        quota_blocked: int | None = None
        held_back = tried = False
        max_free = self.state.max_free_py
        runtime = lists.runtime[i]
        hold = self.hold
        for c, ok in zip(ranked, allowed, strict=True):  # the cells, best first
            if not ok or max_free[c] < accel:
                continue
            tried = True
            end = s.now + runtime[c]  # NaN when unknown
            long_job = hold is not None and c == hold.cell and not end <= hold.start
            one = nodes == 1 and not long_job and not mem > self._mem_min_py[c]
            if one:  # the common case, on plain ints: ``fit`` would pick the same node
                node = self.state.best_node(c, accel)
                if node < 0:
                    continue
            else:
                rows_ = self.state.fit(c, accel, nodes, mem, held=long_job)
                if rows_ is None:
                    held_back |= long_job and self.state.fit(c, accel, nodes, mem) is not None
                    continue
            ncu = accel * nodes * self._ncu_py[c]
            family = self._family_py[c]
            if not self.quota.admits(org, family, ncu):
                quota_blocked = family if quota_blocked is None else quota_blocked
                continue
            short = hold is not None and end <= hold.start
            self.quota.add(org, family, ncu)
            end = end if end == end else np.inf
            if one:
                devices = self.state.take_one(node, accel, short)
                self.releases.add_one(node, accel, end)
                node_keys: tuple[str, ...] = (s.node_keys[node],)
            else:
                assert rows_ is not None
                devices = self.state.take(rows_, accel, short)
                self.releases.add(rows_, accel, end)
                node_keys = tuple(s.node_keys[n] for n in rows_.tolist())
            self.placements.append(
                Placement(
                    s.job_keys[job],
                    self._pool_py[c],
                    node_keys,
                    tuple(devices),
                    self._chip_py[c],
                    Note(partial(_note, s, self.cells, b, i, c, ranked, allowed)),
                    hold is not None,
                )
            )
            return
        if not tried and nodes == 1 and (self.head is not None or not self.policy.backfill):
            # No allowed cell has room any more: the same reason ``_waiting_reason`` gives,
            # from the block's columns (most of a full cluster's queue ends here).
            self.waiting.append(job)
            if lists.at_start[i]:
                self.pending[job] = self._capacity_pending(job, True, lists.first_then[i], 0)
                return
            best, largest = -1, -1
            for c, ok in zip(ranked, allowed, strict=True):
                if ok and max_free[c] > largest:
                    best, largest = c, max_free[c]
            self.pending[job] = self._capacity_pending(job, False, best, largest)
            return
        cand = np.array([c for c, ok in zip(ranked, allowed, strict=True) if ok], dtype=np.int64)
        self.pending[job] = self._waiting_reason(job, i, b, cand, quota_blocked, held_back)

    def _capacity_pending(self, job: int, at_start: bool, best: int, largest: int) -> Pending:
        """WAITING_FOR_CAPACITY or BLOCKED_BY_JOBS_AHEAD for a one-node job, from the batch."""
        s = self.s
        key = s.job_keys[job]
        if at_start:
            # Same as _waiting_reason: name the pool of the best-ranked cell that fit at start.
            return Pending(
                key,
                PendingReason.BLOCKED_BY_JOBS_AHEAD,
                {"pool": s.pools[int(self.cells.pool[best])]},
            )
        args: dict[str, ArgValue] = {"accelerators": int(s.job_accel[job]), "nodes": 1}
        args["largest_free"] = max(largest, 0)
        if largest > 0:
            args["pool"] = s.pools[int(self.cells.pool[best])]
        return Pending(key, PendingReason.WAITING_FOR_CAPACITY, args)

    def _waiting_reason(
        self, job: int, i: int, b: Block, cand: IntArray, quota_family: int | None, held: bool
    ) -> Pending:
        s = self.s
        key = s.job_keys[job]
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        if quota_family is not None:
            org = int(s.job_org[job])
            return Pending(
                key,
                PendingReason.QUOTA_EXHAUSTED,
                {
                    "org": s.orgs[org],
                    "family": s.quotas.families[quota_family],
                    "used": round(float(self.quota.usage[org, quota_family]), 2),
                    "quota": round(float(s.quotas.nominal[org, quota_family]), 2),
                },
            )
        if held and self.hold is not None and self.head is not None:
            self.waiting.append(job)
            return Pending(
                key,
                PendingReason.RESERVED_FOR_EARLIER_JOB,
                {
                    "head": self.head,
                    "pool": s.pools[int(self.cells.pool[self.hold.cell])],
                    "in_s": round(self.hold.start - s.now, 1),
                },
            )
        self.waiting.append(job)
        if self.policy.backfill and self.hold is None and self.head is None:
            # 5. The head of the queue: reserve its earliest start (EASY).
            self.head = key
            self.hold = reserve(
                self.state, cand.tolist(), accel, nodes, float(s.job_min_mem[job]), self.releases
            )
            if self.hold is not None:
                self.state.hold[self.hold.node_rows] = self.hold.hold
        at_start = cand[self.start_max_free[cand] >= accel]
        if at_start.size and (
            nodes == 1
            or any(
                self.state.fit(c, accel, nodes, float(s.job_min_mem[job]), self.s.node_free)
                is not None
                for c in at_start.tolist()
            )
        ):
            pool = s.pools[int(self.cells.pool[int(at_start[0])])]
            return Pending(key, PendingReason.BLOCKED_BY_JOBS_AHEAD, {"pool": pool})
        args: dict[str, ArgValue] = {"accelerators": accel, "nodes": nodes}
        best = int(cand[np.argmax(self.state.max_free[cand])]) if cand.size else -1
        args["largest_free"] = int(self.state.max_free[best]) if best >= 0 else 0
        if best >= 0 and args["largest_free"]:
            args["pool"] = s.pools[int(self.cells.pool[best])]
        if self.hold is not None and self.head == key:
            args["reserved_in_s"] = round(self.hold.start - s.now, 1)
        return Pending(key, PendingReason.WAITING_FOR_CAPACITY, args)

    def _preempt(self) -> list[Preemption]:
        s, p = self.s, self.policy
        preemptor = Preemptor(s, self.state, p.min_runtime_s)
        out: list[Preemption] = []
        rows = np.array(self.waiting[: 4 * p.max_preemptors], dtype=np.int64)
        if not rows.size:
            return out
        b = block_metrics(s, self.cells, rows)
        ranked = rank_cells(np.where(b.allowed, p.rank_key(s, b, self.cells), np.inf), b.speed)
        planned = 0
        for i, job in enumerate(rows.tolist()):
            if planned >= p.max_preemptors:
                break
            cand = ranked[i][b.allowed[i, ranked[i]]]
            ncu = self.cell_ncu * float(s.job_accel[job] * s.job_nodes[job])
            plan = preemptor.plan(job, cand.tolist(), self.quota, self.family, ncu)
            if plan is None:
                continue
            planned += 1
            for run in plan.victims:
                out.append(Preemption(s.running.keys[run], plan.reason, s.job_keys[job], p.grace_s))
            why = "lower priority" if plan.reason is PreemptReason.PRIORITY else "borrowed quota"
            self.pending[job] = Pending(
                s.job_keys[job],
                PendingReason.PREEMPTING,
                {
                    "victims": len(plan.victims),
                    "why": why,
                    "grace_s": p.grace_s,
                    "pool": s.pools[int(self.cells.pool[plan.cell])],
                },
            )
        return out

    def _result(self, preemptions: list[Preemption]) -> CycleResult:
        s = self.s
        pending = list(self.pending.values())  # in queue order
        pending_rows = list(self.pending)
        oldest = float(s.now - s.job_submit[pending_rows].min()) if pending_rows else 0.0
        reservations: tuple[Reservation, ...] = ()
        if self.hold is not None and self.head is not None:
            h = self.hold
            reservations = (
                Reservation(
                    self.head,
                    int(self.cells.pool[h.cell]),
                    int(self.cells.chip[h.cell]),
                    h.start,
                    tuple(s.node_keys[n] for n in h.node_rows.tolist()),
                    tuple(int(x) for x in h.hold.tolist()),
                ),
            )
        stats = CycleStats(
            jobs=s.n_jobs,
            placed=len(self.placements),
            pending=len(pending),
            devices_placed=sum(len(p.devices) for p in self.placements),
            free_devices_before=int(s.node_free.sum()),
            free_devices_after=int(self.state.free.sum()),
            oldest_pending_wait_s=max(oldest, 0.0),
            by_reason=dict(sorted(Counter(p.reason.name for p in pending).items())),
        )
        return CycleResult(
            tuple(self.placements), tuple(pending), stats, tuple(preemptions), reservations
        )


def _note(
    s: Snapshot, cells: Cells, b: Block, i: int, c: int, ranked: list[int], allowed: list[bool]
) -> str:
    # A function of the cycle's inputs, not a method: a note that held the cycle would tie
    # every cycle's state into a reference loop only the garbage collector can free.
    cand = [x for x, ok in zip(ranked, allowed, strict=True) if ok]
    return placement_note(s, cells, b, i, c, cand)


def run_cells(snapshot: Snapshot, policy: CellPolicy) -> CycleResult:
    """1.–7. above. Same snapshot and policy, same result."""
    return _Cycle(snapshot, policy).run()
