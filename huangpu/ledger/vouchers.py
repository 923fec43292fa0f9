"""Voucher programs (算力券) and the grants that entitle a tenant to them.

Shaped after real programs (DESIGN.md): a subsidy rate per chip category (Hangzhou: 30% on
domestic chips, 20% on others), a program budget and a per-tenant cap, eligible suppliers,
chips and tenant categories, 12 months' validity from the grant, city + district stacking up to
a combined ceiling (Shanghai: up to 100%), and model vouchers as a separate kind.

Redemption is "use first, pay later" (先用后付): there is no application step; ``rating`` applies
every eligible grant when it rates a charge. ``decline_reason`` is the single eligibility rule:
rating records its answer and skips the program, ``require_redeemable`` turns it into an
``InvalidInput`` naming the field for callers that must refuse instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from huangpu.core.errors import InvalidInput
from huangpu.core.jobspec import JobKind
from huangpu.ledger.periods import add_months
from huangpu.ledger.validation import (
    CURRENCY,
    check_bp,
    check_currency,
    check_fen,
    check_time,
    check_token,
)


class ProgramKind(StrEnum):
    COMPUTE = "compute"  # rent of accelerators for every job kind but serve
    MODEL = "model"  # model vouchers: serve jobs (model pools) only


@dataclass(frozen=True, slots=True)
class VoucherProgram:
    id: str
    name: str
    funder: str  # "city", "district-xuhui", …: names the funder:<funder> account
    kind: ProgramKind
    rate_bp_domestic: int  # basis points of the gross: 3000 is 30%
    rate_bp_other: int
    program_budget_fen: int
    per_tenant_cap_fen: int
    eligible_suppliers: frozenset[str] | None = None  # None: every supplier
    eligible_chips: frozenset[str] | None = None  # catalog chip ids; None: every chip
    eligible_categories: frozenset[str] | None = None  # org categories; None: every tenant
    valid_months: int = 12  # a grant's validity, from the day it is granted
    stack_group: str | None = None  # programs sharing a group stack (city + district)
    stack_ceiling_bp: int = 10_000  # the stack's combined subsidy never exceeds this share
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        check_token(self.id, "id")
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("a voucher program needs a name", "name")
        check_token(self.funder, "funder")
        if not isinstance(self.kind, ProgramKind):
            raise InvalidInput(f"kind must be one of {[k.value for k in ProgramKind]}", "kind")
        check_bp(self.rate_bp_domestic, "rate_bp_domestic")
        check_bp(self.rate_bp_other, "rate_bp_other")
        check_fen(self.program_budget_fen, "program_budget_fen", positive=True)
        check_fen(self.per_tenant_cap_fen, "per_tenant_cap_fen", positive=True)
        for name in ("eligible_suppliers", "eligible_chips", "eligible_categories"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, frozenset) or not value):
                raise InvalidInput(f"{name} must be a non-empty frozenset, or None for all", name)
        if isinstance(self.valid_months, bool) or not isinstance(self.valid_months, int):
            raise InvalidInput("valid_months must be an int", "valid_months")
        if not 1 <= self.valid_months <= 120:
            raise InvalidInput("valid_months must be between 1 and 120", "valid_months")
        if self.stack_group is not None:
            check_token(self.stack_group, "stack_group")
        check_bp(self.stack_ceiling_bp, "stack_ceiling_bp", low=1)
        check_currency(self.currency)

    def rate_bp(self, domestic: bool) -> int:
        return self.rate_bp_domestic if domestic else self.rate_bp_other

    def covers_job_kind(self, job_kind: str) -> bool:
        serve = job_kind == JobKind.SERVE.value
        return serve if self.kind is ProgramKind.MODEL else not serve

    def grant(self, org: str, granted_at: float) -> VoucherGrant:
        """A grant valid for ``valid_months`` calendar months (Beijing time) from ``granted_at``."""
        return VoucherGrant(self.id, org, granted_at, add_months(granted_at, self.valid_months))


@dataclass(frozen=True, slots=True)
class VoucherGrant:
    program_id: str
    org: str
    granted_at: float
    expires_at: float

    def __post_init__(self) -> None:
        check_token(self.program_id, "program_id")
        check_token(self.org, "org")
        check_time(self.granted_at, "granted_at")
        check_time(self.expires_at, "expires_at")
        if self.expires_at <= self.granted_at:
            raise InvalidInput("a grant must expire after it is granted", "expires_at")

    def covers(self, start: float, end: float) -> bool:
        """Whether the grant is valid over the whole window [start, end].

        Metering rates short windows and can split one at ``granted_at`` or ``expires_at``.
        """
        return self.granted_at <= start and end <= self.expires_at


@dataclass(frozen=True, slots=True)
class Redemption:
    """What a charge would redeem against: the facts eligibility depends on."""

    org: str
    org_category: str
    supplier: str
    chip: str
    job_kind: str
    start: float
    end: float


def decline_reason(
    program: VoucherProgram, grant: VoucherGrant, use: Redemption
) -> tuple[str, str] | None:
    """None when ``grant`` of ``program`` applies to ``use``; else (field, reason)."""
    if grant.program_id != program.id:
        return "program_id", f"grant is for program {grant.program_id!r}, not {program.id!r}"
    if grant.org != use.org:
        return "org", f"grant belongs to {grant.org!r}, not {use.org!r}"
    if use.start < grant.granted_at:
        return "granted_at", "usage before the grant was made"
    if use.end > grant.expires_at:
        return "expires_at", "grant expired"
    if not program.covers_job_kind(use.job_kind):
        want = "serve jobs only" if program.kind is ProgramKind.MODEL else "no serve jobs"
        return "job_kind", f"{program.kind.value} program covers {want}"
    checks: tuple[tuple[str, frozenset[str] | None, str], ...] = (
        ("supplier", program.eligible_suppliers, use.supplier),
        ("chip", program.eligible_chips, use.chip),
        ("org_category", program.eligible_categories, use.org_category),
    )
    for name, allowed, value in checks:
        if allowed is not None and value not in allowed:
            return name, f"{name} {value!r} is not eligible"
    return None


def require_redeemable(
    program: VoucherProgram,
    grant: VoucherGrant,
    use: Redemption,
    spent_by_program: Mapping[str, int],
) -> None:
    """Raise ``InvalidInput`` naming the field when the grant cannot pay for ``use`` now."""
    reason = decline_reason(program, grant, use)
    if reason is not None:
        raise InvalidInput(f"voucher {program.id}: {reason[1]}", reason[0])
    if spent_by_program.get(program.id, 0) >= program.program_budget_fen:
        raise InvalidInput(f"voucher {program.id}: program budget spent", "program_budget_fen")
