"""Properties over random programs, grants and charges (hypothesis, ≤ 200 examples each)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_builders import T0, funding, line, program

from huangpu.core.errors import Conflict
from huangpu.core.money import round_half_up
from huangpu.ledger import (
    Journal,
    ProgramKind,
    UsageLine,
    UsageSample,
    VoucherGrant,
    VoucherProgram,
    aggregate,
    balances_of,
    charge_transaction,
    program_budget,
    program_spend,
    rate_charge,
    settlement,
    statement,
    tenant_program_spend,
)

ORGS = ("org_a", "org_b")
DAY = 86_400


@st.composite
def programs(draw: st.DrawFn) -> list[VoucherProgram]:
    made = []
    for number in range(draw(st.integers(1, 4))):
        made.append(
            program(
                f"p{number}",
                rate=draw(st.integers(0, 10_000)),
                rate_other=draw(st.integers(0, 10_000)),
                budget=draw(st.integers(1, 60_000)),
                cap=draw(st.integers(1, 40_000)),
                kind=draw(st.sampled_from(ProgramKind)),
                stack_group=draw(st.sampled_from([None, "city-district", "other"])),
                ceiling=draw(st.integers(1, 10_000)),
                valid_months=draw(st.integers(1, 3)),
            )
        )
    return made


@st.composite
def grants(draw: st.DrawFn, progs: list[VoucherProgram]) -> list[VoucherGrant]:
    return [
        p.grant(org, T0 + draw(st.integers(-60, 30)) * DAY)
        for p in progs
        for org in ORGS
        if draw(st.booleans())
    ]


@st.composite
def usage(draw: st.DrawFn, number: int) -> UsageLine:
    start = T0 + draw(st.integers(0, 60 * DAY))
    return line(
        job_id=f"job_{number}",
        org=draw(st.sampled_from(ORGS)),
        category=draw(st.sampled_from(["startup", "lab"])),
        chip=draw(st.sampled_from(["910b2", "a100", "mlu370"])),
        kind=draw(st.sampled_from(["train", "serve"])),
        device_seconds=draw(st.integers(0, 2_000_000)),
        start=start,
        end=start + draw(st.integers(0, 7 * DAY)),
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_budgets_and_caps_never_go_negative_and_the_ledger_balances(data: st.DataObject) -> None:
    progs = data.draw(programs())
    granted = data.draw(grants(progs))
    journal = Journal([funding(p) for p in progs])
    fee_bp = data.draw(st.integers(0, 2000))
    for number in range(data.draw(st.integers(1, 12))):
        line_ = data.draw(usage(number))
        price = data.draw(st.integers(1, 5_000))
        charge = rate_charge(
            line_,
            price,
            progs,
            granted,
            program_spend(journal.transactions),
            tenant_program_spend(journal.transactions),
            fee_bp,
        )
        assert 0 <= charge.cash_fen <= charge.gross_fen
        assert all(s.amount_fen > 0 for s in charge.subsidies)
        if charge.subsidies:  # only one stack pays, within its ceiling
            paying = [p for p in progs if p.id in {s.program_id for s in charge.subsidies}]
            assert len({p.stack_group or p.id for p in paying}) == 1
            ceiling = min(p.stack_ceiling_bp for p in paying)
            assert charge.subsidy_fen <= round_half_up(Fraction(charge.gross_fen * ceiling, 10_000))
        # The journal refuses a program budget below zero, so applying proves it.
        journal.apply(charge_transaction(charge, f"charge:{number}"))

    spent = program_spend(journal.transactions)
    drawn = tenant_program_spend(journal.transactions)
    for p in progs:
        assert 0 <= spent.get(p.id, 0) <= p.program_budget_fen
        assert journal.balance(program_budget(p.id)) == p.program_budget_fen - spent.get(p.id, 0)
        for org in ORGS:
            assert 0 <= drawn.get((org, p.id), 0) <= p.per_tenant_cap_fen
    assert sum(journal.balances().values()) == 0
    assert dict(journal.balances()) == balances_of(journal.transactions)
    # Re-applying every transaction is a no-op.
    before = dict(journal.balances())
    assert journal.apply_all(journal.transactions) == 0
    assert dict(journal.balances()) == before


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_statements_and_settlements_add_up_to_the_postings(data: st.DataObject) -> None:
    progs = data.draw(programs())
    granted = data.draw(grants(progs))
    journal = Journal([funding(p) for p in progs])
    for number in range(data.draw(st.integers(1, 8))):
        line_ = data.draw(usage(number))
        charge = rate_charge(
            line_,
            300,
            progs,
            granted,
            program_spend(journal.transactions),
            tenant_program_spend(journal.transactions),
            500,
        )
        journal.apply(charge_transaction(charge, f"charge:{number}"))
    txs = journal.transactions
    months = ("2026-11", "2026-12", "2027-01")
    cash = sum(statement(txs, org, m).cash_fen for org in ORGS for m in months)
    assert cash == -sum(journal.balance(f"tenant_cash:{org}") for org in ORGS)
    paid = sum(s.owed_fen for q in ("2026Q4", "2027Q1") for s in settlement(txs, q))
    assert paid == journal.balance("supplier_payable:ascend-center")


@st.composite
def samples(draw: st.DrawFn) -> list[UsageSample]:
    made = []
    for number in range(draw(st.integers(1, 30))):
        start = T0 + draw(st.integers(0, 10_000))
        seconds = draw(st.integers(0, 600))
        made.append(
            UsageSample(
                sample_id=f"agent_1:{number}",
                job_id="job_1",
                org="org_a",
                org_category="startup",
                supplier="ascend-center",
                pool="pool_ascend",
                chip="910b2",
                job_kind="train",
                device=str(draw(st.integers(0, 7))),
                device_seconds=seconds,
                start=start,
                end=start + seconds,
            )
        )
    return made


@settings(max_examples=200)
@given(samples(), st.randoms(use_true_random=False), st.integers(1, 5_000))
def test_rating_is_independent_of_sample_order_and_repeats(
    reported: list[UsageSample], rng: random.Random, price: int
) -> None:
    city = program("sh-city", budget=50_000, cap=20_000)
    grant = city.grant("org_a", T0 - DAY)
    expected = rate_charge(aggregate(reported), price, [city], [grant], {}, {})
    late_and_repeated = reported + rng.sample(reported, k=len(reported) // 2)
    rng.shuffle(late_and_repeated)
    line_ = aggregate(late_and_repeated)
    assert line_.device_seconds == sum(s.device_seconds for s in reported)
    assert rate_charge(line_, price, [city], [grant], {}, {}) == expected


def test_a_sample_repeated_with_other_content_is_a_conflict() -> None:
    first = UsageSample(
        "agent_1:1", "job_1", "org_a", "startup", "s", "pool_1", "a100", "train", "0", 60,
        T0, T0 + 60,
    )  # fmt: skip
    changed = UsageSample(
        "agent_1:1", "job_1", "org_a", "startup", "s", "pool_1", "a100", "train", "0", 61,
        T0, T0 + 61,
    )  # fmt: skip
    with pytest.raises(Conflict):
        aggregate([first, changed])
