from __future__ import annotations

import pytest
from ledger_builders import T0, at, program

from huangpu.core.errors import InvalidInput
from huangpu.ledger import Redemption, VoucherGrant, add_months, require_redeemable

USE = Redemption("org_acme", "startup", "ascend-center", "910b2", "train", T0, T0 + 3600)


def test_a_grant_lasts_twelve_calendar_months() -> None:
    grant = program().grant("org_acme", at("2026-01-31 10:00"))
    assert grant.expires_at == at("2027-01-31 10:00")
    assert add_months(at("2026-01-31 10:00"), 1) == at("2026-02-28 10:00")
    assert add_months(at("2027-12-15 00:00"), 3) == at("2028-03-15 00:00")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"rate": 10_001}, "rate_bp_domestic"), ({"rate": -1}, "rate_bp_domestic"),
     ({"budget": 0}, "program_budget_fen"), ({"budget": 10**13}, "program_budget_fen"),
     ({"cap": -5}, "per_tenant_cap_fen"), ({"ceiling": 0}, "stack_ceiling_bp"),
     ({"valid_months": 0}, "valid_months"), ({"currency": "USD"}, "currency"),
     ({"eligible_chips": frozenset()}, "eligible_chips")],
)  # fmt: skip
def test_bad_programs_are_refused(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        program(**change)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_grant_must_expire_after_it_starts() -> None:
    with pytest.raises(InvalidInput) as info:
        VoucherGrant("sh-city", "org_acme", T0, T0)
    assert info.value.field == "expires_at"


def test_expired_foreign_or_spent_vouchers_are_refused_by_name() -> None:
    city = program("sh-city", budget=1000)
    fresh = city.grant("org_acme", T0 - 3600)
    require_redeemable(city, fresh, USE, {})
    cases = [
        (city.grant("org_acme", at("2025-01-01 00:00")), {}, "expires_at"),
        (city.grant("org_other", T0 - 3600), {}, "org"),
        (fresh, {"sh-city": 1000}, "program_budget_fen"),
    ]
    for grant, spent, field in cases:
        with pytest.raises(InvalidInput) as info:
            require_redeemable(city, grant, USE, spent)
        assert info.value.field == field
