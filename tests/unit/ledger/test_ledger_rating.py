from __future__ import annotations

import pytest
from ledger_builders import T0, at, line, program

from huangpu.core.errors import InvalidInput
from huangpu.ledger import (
    AccountId,
    Declined,
    Posting,
    ProgramKind,
    Subsidy,
    VoucherGrant,
    VoucherProgram,
    charge_transaction,
    gross_fen,
    rate_charge,
    usage_key,
)

ORG = "org_acme"
HOURS = 3600


def grant(prog: VoucherProgram, org: str = ORG, granted: float = T0 - 86_400) -> VoucherGrant:
    return prog.grant(org, granted)


def test_worked_example_checked_by_hand() -> None:
    """A 910B job: 8 cards × 10.5 h at 3.00 CNY per card-hour, city 30% + district 20%.

    gross    = 8 × 10.5 × 300 fen      = 25,200 fen (¥252.00)
    city     = 25,200 × 30%            =  7,560
    district = 25,200 × 20%            =  5,040   (stacked: 50% ≤ the 100% ceiling)
    cash     = 25,200 − 7,560 − 5,040  = 12,600   (no platform fee)
    """
    city = program("sh-city", rate=3000, stack_group="shanghai")
    district = program("sh-district", rate=2000, stack_group="shanghai")
    usage = line(device_seconds=8 * 37_800, start=T0, end=T0 + 10.5 * HOURS)
    charge = rate_charge(
        usage, 300, [city, district], [grant(city), grant(district)], {}, {}, fee_bp=0
    )
    assert charge.gross_fen == 25_200
    assert charge.subsidies == (Subsidy("sh-city", 7_560), Subsidy("sh-district", 5_040))
    assert charge.cash_fen == 12_600 and charge.fee_fen == 0

    tx = charge_transaction(charge, usage_key(usage))
    assert sorted(tx.postings) == sorted(
        [
            Posting(AccountId("tenant_cash:org_acme"), -12_600),
            Posting(AccountId("program_budget:sh-city"), -7_560),
            Posting(AccountId("program_budget:sh-district"), -5_040),
            Posting(AccountId("supplier_payable:ascend-center"), 25_200),
        ]
    )
    assert tx.at == usage.end and tx.cause.job_id == "job_1" and tx.cause.chip == "910b2"
    assert tx.cause.window == (usage.start, usage.end) and tx.cause.device_seconds == 302_400


def test_gross_rounds_half_up_once_per_line() -> None:
    # 1 device-second at 1.50 CNY/h is 150/3600 = 0.0417 fen: 0 per sample, but the line adds
    # up first. 30 s at 300 fen/h is exactly 2.5 fen -> 3.
    assert gross_fen(1, 150) == 0
    assert gross_fen(3600 * 7 + 1, 150) == 1050
    assert gross_fen(30, 300) == 3
    assert gross_fen(29, 300) == 2


def test_platform_fee_is_taken_from_the_supplier_share() -> None:
    usage = line(device_seconds=3600)
    charge = rate_charge(usage, 1000, [], [], {}, {}, fee_bp=550)
    assert (charge.gross_fen, charge.fee_fen, charge.cash_fen) == (1000, 55, 1000)
    tx = charge_transaction(charge, "k")
    assert tx.amount("supplier_payable:ascend-center") == 945
    assert tx.amount("platform_fee") == 55
    assert tx.amount("tenant_cash:org_acme") == -1000


def test_domestic_and_other_rates() -> None:
    hangzhou = program("hz", rate=3000, rate_other=2000, stack_group=None)
    on_910b = rate_charge(line(), 1000, [hangzhou], [grant(hangzhou)], {}, {})
    on_a100 = rate_charge(line(chip="a100"), 1000, [hangzhou], [grant(hangzhou)], {}, {})
    assert on_910b.subsidy_fen == 300 and on_a100.subsidy_fen == 200


def test_budget_running_out_mid_charge_pays_what_is_left() -> None:
    city = program("sh-city", rate=3000, budget=10_000)
    charge = rate_charge(line(), 10_000, [city], [grant(city)], {"sh-city": 9_000}, {})
    assert charge.subsidies == (Subsidy("sh-city", 1_000),)
    assert charge.cash_fen == 9_000
    spent = rate_charge(line(), 10_000, [city], [grant(city)], {"sh-city": 10_000}, {})
    assert spent.subsidies == ()
    assert spent.declined == (Declined("sh-city", "program_budget_fen", "program budget spent"),)


def test_tenant_cap_running_out_mid_charge() -> None:
    city = program("sh-city", rate=3000, cap=5_000)
    charge = rate_charge(line(), 10_000, [city], [grant(city)], {}, {(ORG, "sh-city"): 4_500})
    assert charge.subsidies == (Subsidy("sh-city", 500),)
    # Another org's spending does not count against this one's cap.
    other = rate_charge(line(), 10_000, [city], [grant(city)], {}, {("org_b", "sh-city"): 5_000})
    assert other.subsidy_fen == 3_000


def test_stack_ceiling_limits_city_plus_district() -> None:
    city = program("sh-city", rate=3000, ceiling=4000)
    district = program("sh-district", rate=2000, ceiling=4000)
    charge = rate_charge(line(), 10_000, [city, district], [grant(city), grant(district)], {}, {})
    assert charge.subsidies == (Subsidy("sh-city", 3_000), Subsidy("sh-district", 1_000))
    assert charge.cash_fen == 6_000


def test_stacking_up_to_one_hundred_percent() -> None:
    city = program("sh-city", rate=6000)
    district = program("sh-district", rate=6000)
    charge = rate_charge(line(), 10_000, [city, district], [grant(city), grant(district)], {}, {})
    assert charge.subsidy_fen == 10_000 and charge.cash_fen == 0
    tx = charge_transaction(charge, "k")
    assert "tenant_cash:org_acme" not in {p.account for p in tx.postings}


def test_programs_that_do_not_stack_never_combine_the_best_one_pays() -> None:
    beijing = program("bj", rate=2000, stack_group=None)
    hangzhou = program("hz", rate=3000, stack_group=None)
    charge = rate_charge(
        line(), 10_000, [beijing, hangzhou], [grant(beijing), grant(hangzhou)], {}, {}
    )
    assert charge.subsidies == (Subsidy("hz", 3_000),)
    assert Declined("bj", "stack_group", "does not stack with the programs that paid") in (
        charge.declined
    )


def test_expired_and_foreign_grants_give_nothing() -> None:
    city = program("sh-city", valid_months=12)
    old = city.grant(ORG, at("2025-10-01 00:00"))
    assert old.expires_at == at("2026-10-01 00:00")
    expired = rate_charge(line(), 10_000, [city], [old], {}, {})
    assert expired.subsidies == () and expired.cash_fen == 10_000
    assert expired.declined[0].field == "expires_at"
    foreign = rate_charge(line(), 10_000, [city], [grant(city, org="org_other")], {}, {})
    assert foreign.subsidies == () and foreign.declined == ()


def test_grant_must_cover_the_whole_window() -> None:
    city = program("sh-city")
    late = grant(city, granted=T0 + 60)  # granted a minute into the line
    assert rate_charge(line(), 10_000, [city], [late], {}, {}).subsidies == ()


def test_model_vouchers_apply_to_serve_jobs_only() -> None:
    model = program("sh-model", rate=5000, kind=ProgramKind.MODEL, stack_group=None)
    compute = program("sh-city", rate=3000, stack_group=None)
    grants = [grant(model), grant(compute)]
    serve = rate_charge(line(kind="serve"), 10_000, [model, compute], grants, {}, {})
    train = rate_charge(line(kind="train"), 10_000, [model, compute], grants, {}, {})
    assert serve.subsidies == (Subsidy("sh-model", 5_000),)
    assert train.subsidies == (Subsidy("sh-city", 3_000),)
    assert Declined("sh-model", "job_kind", "model program covers serve jobs only") in (
        train.declined
    )


def test_eligibility_by_supplier_chip_and_category() -> None:
    startups = program("sh-city", eligible_categories=frozenset({"startup"}))
    lab = rate_charge(line(category="lab"), 10_000, [startups], [grant(startups)], {}, {})
    assert lab.subsidies == () and lab.declined[0].field == "org_category"
    telecom = program("sh-city", eligible_suppliers=frozenset({"telecom-cloud"}))
    elsewhere = rate_charge(line(), 10_000, [telecom], [grant(telecom)], {}, {})
    assert elsewhere.declined[0].field == "supplier"
    domestic = program("sh-city", eligible_chips=frozenset({"910b2", "910c"}))
    on_a100 = rate_charge(line(chip="a100"), 10_000, [domestic], [grant(domestic)], {}, {})
    assert on_a100.declined[0].field == "chip"


@pytest.mark.parametrize(
    ("price", "field"),
    [(0, "price_fen_per_hour"), (-300, "price_fen_per_hour"), (3.0, "price_fen_per_hour"),
     (10**8, "price_fen_per_hour")],
)  # fmt: skip
def test_bad_prices_are_refused(price: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        rate_charge(line(), price, [], [], {}, {})  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_spends_and_fees_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        rate_charge(line(), 300, [], [], {"sh-city": -1}, {})
    assert info.value.field == "spent_by_program"
    with pytest.raises(InvalidInput) as info:
        rate_charge(line(), 300, [], [], {}, {}, fee_bp=10_001)
    assert info.value.field == "fee_bp"


def test_zero_usage_is_a_transaction_without_postings() -> None:
    charge = rate_charge(line(device_seconds=0), 300, [], [], {}, {})
    tx = charge_transaction(charge, usage_key(charge.usage))
    assert tx.postings == () and tx.key.startswith("usage:job_1:")
