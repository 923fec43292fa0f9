"""Quota accounting for one cycle: nominal quota per (org, family), cohorts, borrowing, lending.

Kueue's semantics, in normalised compute units (NCU):
- an org may always use up to its ``nominal`` quota of a family (that is what it paid for);
- above it, it borrows idle quota from its cohort, up to its ``borrow_limit``, and only while
  the cohort's total borrowing stays within what members lend: for each member,
  ``min(lend_limit, nominal − usage)`` of its idle quota;
- an org without a cohort never goes above nominal.
When an owner takes back quota that was lent, borrowing can exceed lending for a moment; the
preemption step then reclaims it from borrowers (``borrowing`` says who).
"""

from __future__ import annotations

import numpy as np

from huangpu.scheduling.snapshot import FloatArray, Snapshot

EPS = 1e-9
# Unlimited lending is summed per cohort; capping it keeps inf − inf (NaN) out of the sums.
BIG = 1e15


def running_usage(s: Snapshot) -> FloatArray:
    """NCU each org holds per family now, from the running jobs' allocations."""
    q, r = s.quotas, s.running
    usage = np.zeros((s.n_orgs, q.n_families))
    if r.n:
        chips = s.node_chip[r.alloc_node]
        ncu = r.alloc_count * s.market.chip_ncu[chips]
        np.add.at(usage, (r.org[r.alloc_run], q.chip_family[chips]), ncu)
    return usage


class QuotaState:
    def __init__(self, s: Snapshot) -> None:
        q = s.quotas
        self.enforced = q.enforced
        self.nominal = q.nominal
        self.borrow = q.borrow_limit
        self.lend = q.lend_limit
        self.cohort = q.cohort
        self.usage = running_usage(s)
        n_cohorts = int(q.cohort.max()) + 1 if q.cohort.size else 0
        self.borrowed = np.zeros((max(n_cohorts, 0), q.n_families))
        self.lendable = np.zeros((max(n_cohorts, 0), q.n_families))
        for o in np.flatnonzero(q.cohort >= 0).tolist():
            k = int(q.cohort[o])
            self.borrowed[k] += self._borrowed(o)
            self.lendable[k] += self._lendable(o)

    def _borrowed(self, o: int) -> FloatArray:
        return np.asarray(np.maximum(self.usage[o] - self.nominal[o], 0.0), dtype=np.float64)

    def _lendable(self, o: int) -> FloatArray:
        idle = np.maximum(self.nominal[o] - self.usage[o], 0.0)
        return np.asarray(np.minimum(np.minimum(self.lend[o], idle), BIG), dtype=np.float64)

    def admits(self, o: int, f: int, ncu: float) -> bool:
        if not self.enforced:
            return True
        after = self.usage[o, f] + ncu
        nominal = self.nominal[o, f]
        if after <= nominal + EPS:
            return True
        if after > nominal + self.borrow[o, f] + EPS:
            return False
        k = int(self.cohort[o])
        if k < 0:
            return False
        before_b, before_l = self._cohort_share(o, f)
        borrowed = self.borrowed[k, f] - before_b + (after - nominal)
        lendable = self.lendable[k, f] - before_l
        return bool(borrowed <= lendable + EPS)

    def _cohort_share(self, o: int, f: int) -> tuple[float, float]:
        """(borrowed, lendable) of org ``o`` in family ``f`` as the cohort sums count them."""
        usage, nominal = self.usage[o, f], self.nominal[o, f]
        borrowed = max(usage - nominal, 0.0)
        lendable = min(self.lend[o, f], max(nominal - usage, 0.0), BIG)
        return float(borrowed), float(lendable)

    def add(self, o: int, f: int, ncu: float) -> None:
        if not self.enforced:
            return  # usage only ever feeds quota decisions, and there are none to make
        k = int(self.cohort[o])
        if k < 0:
            self.usage[o, f] += ncu
            return
        b0, l0 = self._cohort_share(o, f)
        self.usage[o, f] += ncu
        b1, l1 = self._cohort_share(o, f)
        self.borrowed[k, f] += b1 - b0
        self.lendable[k, f] += l1 - l0

    def within_nominal(self, o: int, f: int, ncu: float) -> bool:
        return bool(self.usage[o, f] + ncu <= self.nominal[o, f] + EPS)

    def borrowing(self, o: int, f: int) -> bool:
        return bool(self.usage[o, f] > self.nominal[o, f] + EPS)
