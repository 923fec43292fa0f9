from __future__ import annotations

import pytest
from ledger_builders import OPERATOR, T0, at, funding, line, program

from huangpu.core.errors import InvalidInput
from huangpu.ledger import (
    Journal,
    Subsidy,
    budget_alerts,
    charge_transaction,
    month_window,
    over_budget,
    program_spend,
    quarter_window,
    rate_charge,
    settlement,
    statement,
    tenant_program_spend,
    usage_key,
)

HOUR = 3600


def billed_journal() -> Journal:
    """Two jobs of org_acme in November on two suppliers, one of org_b; one charge reversed."""
    city = program("sh-city", rate=3000)
    district = program("sh-district", rate=2000)
    journal = Journal([funding(city), funding(district)])
    grants = [city.grant("org_acme", T0 - 86_400), district.grant("org_acme", T0 - 86_400)]
    usages = [
        (line(job_id="job_1", device_seconds=8 * 37_800, end=T0 + 10.5 * HOUR), 300),
        (line(job_id="job_2", supplier="telecom-cloud", pool="pool_a100", chip="a100"), 1000),
        (line(job_id="job_2", supplier="telecom-cloud", pool="pool_a100", chip="a100",
              start=T0 + HOUR), 1000),
        (line(job_id="job_9", org="org_b", device_seconds=7200), 300),
        (line(job_id="job_3", start=at("2026-12-01 08:00")), 300),
    ]  # fmt: skip
    for usage, price in usages:
        txs = journal.transactions
        charge = rate_charge(
            usage, price, [city, district], grants,
            program_spend(txs), tenant_program_spend(txs), fee_bp=500,
        )  # fmt: skip
        journal.apply(charge_transaction(charge, usage_key(usage)))
    mistaken = usage_key(usages[2][0])
    journal.reverse(mistaken, f"{mistaken}:undo", OPERATOR, at("2026-11-20 00:00"))
    return journal


def test_statement_lines_per_job_chip_supplier() -> None:
    bill = statement(billed_journal().transactions, "org_acme", "2026-11")
    assert [(x.job_id, x.chip, x.supplier) for x in bill.lines] == [
        ("job_1", "910b2", "ascend-center"),
        ("job_2", "a100", "telecom-cloud"),
    ]
    job_1, job_2 = bill.lines
    assert (job_1.gross_fen, job_1.cash_fen, job_1.device_seconds) == (25_200, 12_600, 302_400)
    assert job_1.subsidies == (Subsidy("sh-city", 7_560), Subsidy("sh-district", 5_040))
    # Two hours billed, one reversed: one hour at 10.00 CNY, 30% + 20% off.
    assert (job_2.gross_fen, job_2.cash_fen, job_2.device_seconds) == (1_000, 500, 3600)
    assert bill.gross_fen == 26_200 and bill.cash_fen == 13_100
    assert bill.subsidies == (Subsidy("sh-city", 7_860), Subsidy("sh-district", 5_240))
    assert bill.subsidy_fen + bill.cash_fen == bill.gross_fen


def test_statement_is_per_org_and_month() -> None:
    txs = billed_journal().transactions
    assert [x.job_id for x in statement(txs, "org_b", "2026-11").lines] == ["job_9"]
    assert statement(txs, "org_b", "2026-11").cash_fen == 600  # no grants: all cash
    assert [x.job_id for x in statement(txs, "org_acme", "2026-12").lines] == ["job_3"]
    assert statement(txs, "org_acme", "2026-10").lines == ()


def test_settlement_per_supplier_split_into_cash_and_programs() -> None:
    journal = billed_journal()
    owed = {s.supplier: s for s in settlement(journal.transactions, "2026Q4")}
    ascend = owed["ascend-center"]
    assert ascend.gross_fen == 25_200 + 600 + 300
    assert ascend.cash_fen == 12_600 + 600 + 150
    assert ascend.subsidies == (Subsidy("sh-city", 7_650), Subsidy("sh-district", 5_100))
    assert ascend.fee_fen == 1_260 + 30 + 15
    assert ascend.owed_fen == journal.balance("supplier_payable:ascend-center")
    telecom = owed["telecom-cloud"]
    assert (telecom.gross_fen, telecom.cash_fen, telecom.fee_fen) == (1_000, 500, 50)
    assert settlement(journal.transactions, "2027Q1") == ()


def test_periods_are_in_beijing_time() -> None:
    start, end = month_window("2026-11")
    assert start == at("2026-11-01 00:00") and end == at("2026-12-01 00:00")
    assert quarter_window("2026Q4") == (at("2026-10-01 00:00"), at("2027-01-01 00:00"))
    for bad, field in [("2026-13", "month"), ("Nov", "month")]:
        with pytest.raises(InvalidInput) as info:
            month_window(bad)
        assert info.value.field == field
    with pytest.raises(InvalidInput):
        quarter_window("2026Q5")


def test_budget_alerts_fire_once_per_threshold() -> None:
    assert budget_alerts(499, 1000) == ()
    assert budget_alerts(500, 1000) == (50,)
    assert budget_alerts(850, 1000, already_fired={50}) == (80,)
    assert budget_alerts(1200, 1000, already_fired=(50,)) == (80, 100)
    assert budget_alerts(1000, 1000, already_fired=(50, 80, 100)) == ()
    assert budget_alerts(500, 999) == (50,)  # 50% of 999 fen is 499.5: reached at 500
    assert not over_budget(999, 1000) and over_budget(1000, 1000)
    with pytest.raises(InvalidInput) as info:
        budget_alerts(1, 0)
    assert info.value.field == "budget"
