"""Quotas, cohorts, reclaim and priority preemption, worked out by hand (1 NCU per device)."""

from __future__ import annotations

import numpy as np

from huangpu.scheduling import PendingReason, SnapshotBuilder, run_cycle
from huangpu.scheduling.result import PreemptReason
from huangpu.scheduling.tables import Quotas

INF = float("inf")


def city(
    nominal: list[float], cohort: list[int], borrow: float = INF, lend: float = INF
) -> SnapshotBuilder:
    n = len(nominal)
    b = SnapshotBuilder(["a100"], ["sh"], now=10_000.0)
    b.set_orgs([f"o{i}" for i in range(n)])
    b.set_quotas(
        Quotas(
            nominal=np.array(nominal)[:, None],
            borrow_limit=np.full((n, 1), borrow),
            lend_limit=np.full((n, 1), lend),
            cohort=np.array(cohort),
        )
    )
    return b


def test_nominal_quota_stops_an_org_and_says_which() -> None:
    b = city([4.0, 4.0], [-1, -1])
    b.add_node(0, "n1", 0, "r", list(range(8)), 80)
    b.add_job("a", 4, 1, 0, [0], 0, 0, 0.0).add_job("b", 1, 1, 0, [0], 0, 0, 1.0)
    result = run_cycle(b.build(), "cost-aware")
    assert [p.job_key for p in result.placements] == ["a"]
    (w,) = result.pending
    assert w.reason is PendingReason.QUOTA_EXHAUSTED
    assert w.args == {"org": "o0", "family": "a100", "used": 4.0, "quota": 4.0}
    assert "o0 has used its quota for a100" in w.explain()


def test_cohort_lends_idle_quota_up_to_the_borrow_limit() -> None:
    # o0 and o1 share a cohort with 4 NCU each; o1 is idle, so o0 may borrow up to 3 more.
    b = city([4.0, 4.0], [0, 0], borrow=3.0)
    b.add_node(0, "n1", 0, "r", list(range(8)), 80)
    for i in range(8):
        b.add_job(f"j{i}", 1, 1, 0, [0], 0, 0, float(i))
    result = run_cycle(b.build(), "cost-aware")
    assert len(result.placements) == 7  # 4 nominal + 3 borrowed
    assert result.pending[0].reason is PendingReason.QUOTA_EXHAUSTED


def test_lend_limit_caps_what_a_member_lends() -> None:
    b = city([4.0, 4.0], [0, 0], lend=1.0)
    b.add_node(0, "n1", 0, "r", list(range(8)), 80)
    for i in range(8):
        b.add_job(f"j{i}", 1, 1, 0, [0], 0, 0, float(i))
    assert len(run_cycle(b.build(), "cost-aware").placements) == 5  # 4 + 1 lent


def test_no_cohort_no_borrowing() -> None:
    b = city([2.0, 4.0], [-1, -1])
    b.add_node(0, "n1", 0, "r", list(range(8)), 80)
    for i in range(3):
        b.add_job(f"j{i}", 1, 1, 0, [0], 0, 0, float(i))
    assert len(run_cycle(b.build(), "cost-aware").placements) == 2


def test_owner_reclaims_from_a_borrower_youngest_first() -> None:
    # o1 borrowed: it holds 6 devices in jobs r-old (3) and r-new (3) against a nominal of 2.
    # o0 (nominal 6, using nothing) wants 3: the node is full, so o1's youngest job goes.
    b = city([6.0, 2.0], [0, 0])
    b.add_node(0, "n1", 0, "r", [], 80)
    b.add_running("r-old", 1, 5, 1000.0, [("n1", 3)])
    b.add_running("r-new", 1, 5, 2000.0, [("n1", 3)])
    b.add_job("mine", 3, 1, 0, [0], 0, 0, 0.0)
    result = run_cycle(b.build(), "cost-aware")
    (pre,) = result.preemptions
    assert (pre.job_key, pre.reason, pre.for_job) == ("r-new", PreemptReason.QUOTA_RECLAIM, "mine")
    assert pre.grace_s == 120.0 and "borrowing" in pre.explain()
    (w,) = result.pending
    assert w.reason is PendingReason.PREEMPTING and "borrowed quota" in w.explain()


def test_priority_preemption_takes_lowest_priority_and_spares_young_jobs() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=10_000.0)
    b.add_node(0, "n1", 0, "r", [], 80)
    b.add_running("low", 0, -1, 1000.0, [("n1", 4)])
    b.add_running("mid", 0, 0, 1000.0, [("n1", 2)])
    b.add_running("fresh", 0, -5, 9_900.0, [("n1", 2)])  # started 100 s ago: thrash guard
    b.add_job("urgent", 4, 1, 0, [0], 0, 10, 0.0)
    b.add_job("equal", 1, 1, 0, [0], 0, -1, 0.0)  # may not preempt its equals
    result = run_cycle(b.build(), "cost-aware")
    assert [(p.job_key, p.reason) for p in result.preemptions] == [("low", PreemptReason.PRIORITY)]
    reasons = {p.job_key: p.reason for p in result.pending}
    assert reasons["urgent"] is PendingReason.PREEMPTING


def test_first_fit_never_preempts() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=10_000.0)
    b.add_node(0, "n1", 0, "r", [], 80)
    b.add_running("low", 0, -1, 1000.0, [("n1", 4)])
    b.add_job("urgent", 4, 1, 0, [0], 0, 10, 0.0)
    assert run_cycle(b.build(), "first-fit").preemptions == ()
