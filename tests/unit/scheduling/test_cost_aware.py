"""Cost-aware placement, constraints and explanations, on cities small enough to do by hand."""

from __future__ import annotations

import numpy as np

from huangpu.scheduling import PendingReason, SnapshotBuilder, get_policy, policy_names, run_cycle
from huangpu.scheduling.tables import Market, Quotas

CHIPS = ["h100", "a100", "910b"]
POOLS = ["sh-h100", "bj-a100", "hz-910b", "sg-a100"]
H100, A100, ASCEND = 0, 1, 2
# progress units/s per accelerator: the H100 is 3× an A100, the 910B 0.8×
SPEED = np.array([[3.0, 1.0, 0.8]])
# fen per accelerator-hour, pool × chip (only the chip each pool has matters)
PRICE = np.array([[3000, 0, 0], [0, 1200, 0], [0, 0, 700], [0, 900, 0]])


def city(subsidy: list[list[int]] | None = None, blocked: bool = False) -> SnapshotBuilder:
    b = SnapshotBuilder(CHIPS, POOLS, now=1000.0)
    b.set_regions(["shanghai", "beijing", "hangzhou", "singapore"], [0, 1, 2, 3])
    b.set_orgs(["acme", "beta"])
    b.set_market(
        Market(("default",), SPEED, np.ones(3), PRICE, np.array(subsidy or [[0] * 3, [0] * 3]))
    )
    if blocked:
        b.set_quotas(
            Quotas(blocked=np.array([True, False]), block_reason=("cash balance is 0", ""))
        )
    b.add_node(0, "h1", H100, "r1", list(range(8)), 80)
    b.add_node(1, "a1", A100, "r1", list(range(8)), 80)
    b.add_node(2, "b1", ASCEND, "r1", list(range(8)), 64)
    b.add_node(3, "s1", A100, "r1", list(range(8)), 80)
    return b


def test_registry_has_the_new_policies() -> None:
    assert {"cost-aware", "fair-share", "finish-time-fairness", "first-fit"} <= set(policy_names())
    assert get_policy("cost-aware").name == "cost-aware"


def test_cheapest_per_unit_of_work_wins_not_cheapest_per_hour() -> None:
    # fen per unit of work: h100 3000/3 = 1000, a100 1200/1 = 1200, 910b 700/0.8 = 875,
    # sg a100 900/1 = 900. The 910B is the best deal although the H100 is fastest.
    b = city()
    b.add_job("j", 1, 1, 0, [H100, A100, ASCEND], 0, 0, 0.0)
    (p,) = run_cycle(b.build(), "cost-aware").placements
    assert (p.pool_index, p.chip_index) == (2, ASCEND)
    assert "7.00 CNY per accelerator-hour" in p.note


def test_voucher_subsidy_changes_the_choice() -> None:
    # acme gets 30% off A100s: bj 1200×0.7/1 = 840 < 875 (910B), sg 900×0.7 = 630 best.
    b = city(subsidy=[[0, 3000, 0], [0, 0, 0]])
    b.add_job("j", 1, 1, 0, [A100, ASCEND], 0, 0, 0.0)
    b.add_job("k", 1, 1, 0, [A100, ASCEND], 1, 0, 0.0)
    placed = {p.job_key: p for p in run_cycle(b.build(), "cost-aware").placements}
    assert placed["j"].pool_index == 3 and placed["k"].pool_index == 2


def test_next_best_when_full_and_the_note_says_so() -> None:
    b = city()
    b.add_job("big", 8, 1, 0, [ASCEND, A100], 0, 0, 0.0)
    b.add_job("j", 1, 1, 0, [ASCEND, A100], 0, 0, 1.0)
    placed = {p.job_key: p for p in run_cycle(b.build(), "cost-aware").placements}
    assert placed["big"].pool_index == 2
    assert placed["j"].pool_index == 3 and "was full" in placed["j"].note


def test_residency_never_leaves_its_region_even_when_dearer() -> None:
    b = city()
    b.add_job("j", 1, 1, 0, [A100], 0, 0, 0.0, residency=1)  # beijing only: sg is cheaper
    (p,) = run_cycle(b.build(), "cost-aware").placements
    assert p.pool_index == 1
    b = city()
    b.add_job("j", 1, 1, 0, [ASCEND], 0, 0, 0.0, residency=1)
    (w,) = run_cycle(b.build(), "cost-aware").pending
    assert w.reason is PendingReason.NO_POOL_ALLOWED


def test_max_price_is_after_vouchers_and_explained() -> None:
    b = city()
    b.add_job("j", 1, 1, 0, [H100], 0, 0, 0.0, max_price_fen=2000)
    (w,) = run_cycle(b.build(), "cost-aware").pending
    assert w.reason is PendingReason.OVER_MAX_PRICE
    assert w.args["cheapest_fen"] == 3000 and "20.00 CNY" in w.explain()
    b = city(subsidy=[[4000, 0, 0], [0, 0, 0]])  # 3000 × 0.6 = 1800 ≤ 2000
    b.add_job("j", 1, 1, 0, [H100], 0, 0, 0.0, max_price_fen=2000)
    assert len(run_cycle(b.build(), "cost-aware").placements) == 1


def test_budget_stop_blocks_admission_with_the_ledgers_words() -> None:
    b = city(blocked=True)
    b.add_job("j", 1, 1, 0, [A100], 0, 0, 0.0)
    b.add_job("k", 1, 1, 0, [A100], 1, 0, 0.0)
    result = run_cycle(b.build(), "cost-aware")
    (w,) = result.pending
    assert w.job_key == "j" and w.reason is PendingReason.BUDGET_EXHAUSTED
    assert "cash balance is 0" in w.explain() and "acme" in w.explain()
    # a structural misfit is reported before the budget (it is further from running)
    b = city(blocked=True)
    b.add_job("j", 1, 1, 200, [A100], 0, 0, 0.0)
    assert run_cycle(b.build(), "cost-aware").pending[0].reason is PendingReason.INSUFFICIENT_MEMORY


def test_deadline_beats_price_and_the_trade_off_is_stated() -> None:
    # 36,000 units on 8 accelerators: 910B 0.8×8 = 6.4 u/s -> 5,625 s; H100 3×8 -> 1,500 s.
    # Deadline in 2,000 s: only the H100 meets it, at 1000/875 − 1 = +14% per unit of work.
    b = city()
    b.add_job("j", 8, 1, 0, [H100, ASCEND], 0, 0, 0.0, work=36_000.0, deadline=3000.0)
    (p,) = run_cycle(b.build(), "cost-aware").placements
    assert p.chip_index == H100
    assert "would miss the deadline" in p.note and "+14%" in p.note
    # when no pool can meet it, the fastest is chosen and the note says so
    b = city()
    b.add_job("j", 8, 1, 0, [H100, ASCEND], 0, 0, 0.0, work=36_000.0, deadline=1100.0)
    (p,) = run_cycle(b.build(), "cost-aware").placements
    assert p.chip_index == H100 and "no free pool meets the deadline" in p.note


def test_without_prices_the_fastest_chip_wins() -> None:
    b = SnapshotBuilder(CHIPS, POOLS[:3], now=0.0)
    b.set_market(Market(("default",), SPEED))
    b.add_node(0, "h1", H100, "r", [0], 80).add_node(1, "a1", A100, "r", [0], 80)
    b.add_job("j", 1, 1, 0, [A100, H100], 0, 0, 0.0)
    assert run_cycle(b.build(), "cost-aware").placements[0].chip_index == H100


def test_structural_reasons_match_first_fit() -> None:
    b = city()
    b.add_job("nochip", 1, 1, 0, [], 0, 0, 0.0)
    b.add_job("mem", 1, 1, 100, [A100], 0, 0, 0.0)
    b.add_job("gang", 8, 3, 0, [A100], 0, 0, 0.0)
    s = b.build()
    cost = {p.job_key: p.reason for p in run_cycle(s, "cost-aware").pending}
    ff = {p.job_key: p.reason for p in run_cycle(s, "first-fit").pending}
    assert cost == ff
    gang = next(p for p in run_cycle(s, "cost-aware").pending if p.job_key == "gang")
    assert "largest such domain has 1 suitable node" in gang.explain()
