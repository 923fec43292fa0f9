"""Preemption: pick running jobs to stop so a waiting job can start, by priority or reclaim.

- **Priority**: a job may stop running jobs of strictly lower priority.
- **Quota reclaim** (Kueue's reclaimWithinCohort): an org still within its nominal quota of a
  family may stop jobs of cohort members that are *borrowing* in that family, while they still
  borrow, whatever their priority.
Victims are taken lowest priority first, then most recently started (least work lost), and
only in one cell, only as many as the shape needs. Jobs that started less than
``min_runtime_s`` ago are never victims (a thrash guard), nor are jobs marked not preemptible
(control marks jobs already being stopped so). Victims get a grace period to checkpoint; the
waiting job starts in a later cycle, when their devices show up free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huangpu.scheduling.cells import CellState
from huangpu.scheduling.quota import QuotaState
from huangpu.scheduling.result import PreemptReason
from huangpu.scheduling.snapshot import FloatArray, IntArray, Snapshot


@dataclass(frozen=True)
class Plan:
    cell: int
    victims: tuple[int, ...]  # running rows
    reason: PreemptReason


class Preemptor:
    def __init__(self, s: Snapshot, state: CellState, min_runtime_s: float) -> None:
        self.s = s
        self.state = state
        r = s.running
        self.taken: set[int] = set()
        self.eligible = r.preemptible & (r.start <= s.now - min_runtime_s)
        self.alloc_cell = state.cells.node_cell[r.alloc_node]
        self.by_run = np.argsort(r.alloc_run, kind="stable")
        self.run_start = np.searchsorted(r.alloc_run[self.by_run], np.arange(r.n + 1))
        self._victims: dict[int, list[int]] = {}

    def victims_in(self, c: int) -> list[int]:
        """Running rows with devices in cell ``c``: lowest priority first, then youngest."""
        if c not in self._victims:
            r = self.s.running
            runs = np.unique(r.alloc_run[(self.alloc_cell == c)])
            runs = runs[self.eligible[runs]]
            order = np.lexsort((-r.start[runs], r.priority[runs]))
            self._victims[c] = runs[order].tolist()
        return self._victims[c]

    def _freed(self, run: int, c: int) -> tuple[IntArray, IntArray]:
        r = self.s.running
        mine = self.by_run[self.run_start[run] : self.run_start[run + 1]]
        mine = mine[self.alloc_cell[mine] == c]
        return r.alloc_node[mine], r.alloc_count[mine]

    def plan(
        self, job: int, cells: list[int], quota: QuotaState, family: IntArray, ncu: FloatArray
    ) -> Plan | None:
        s, r = self.s, self.s.running
        org, prio = int(s.job_org[job]), int(s.job_priority[job])
        accel, nodes = int(s.job_accel[job]), int(s.job_nodes[job])
        for c in cells:
            f = int(family[c])
            reclaim = quota.enforced and quota.within_nominal(org, f, float(ncu[c]))
            usage = quota.usage[:, f].copy()
            free = self.state.free.copy()
            victims: list[int] = []
            reasons: list[PreemptReason] = []
            for run in self.victims_in(c):
                if run in self.taken:
                    continue
                v_org = int(r.org[run])
                if int(r.priority[run]) < prio:
                    why = PreemptReason.PRIORITY
                elif (
                    reclaim
                    and v_org != org
                    and quota.cohort[v_org] >= 0
                    and quota.cohort[v_org] == quota.cohort[org]
                    and usage[v_org] > quota.nominal[v_org, f] + 1e-9
                ):
                    why = PreemptReason.QUOTA_RECLAIM
                else:
                    continue
                rows, counts = self._freed(run, c)
                np.add.at(free, rows, counts)
                usage[v_org] -= float((counts * s.market.chip_ncu[s.node_chip[rows]]).sum())
                victims.append(run)
                reasons.append(why)
                if self.state.fit(c, accel, nodes, float(s.job_min_mem[job]), free) is not None:
                    self.taken.update(victims)
                    kind = (
                        PreemptReason.QUOTA_RECLAIM
                        if PreemptReason.QUOTA_RECLAIM in reasons
                        else PreemptReason.PRIORITY
                    )
                    return Plan(c, tuple(victims), kind)
        return None
