"""Request bodies of the ledger routes (money is int fen, rates are basis points)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from huangpu.core.errors import InvalidInput
from huangpu.ledger.periods import BILLING_TZ

# Epoch seconds, or an ISO 8601 date/time (Beijing time when it has no offset).
When = float | str
Token = Annotated[str, Field(min_length=1, max_length=128)]


def epoch(value: When | None, field: str) -> float | None:
    if value is None or isinstance(value, float | int):
        return None if value is None else float(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a time: use 2026-11-01 or epoch seconds", field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BILLING_TZ)
    return moment.timestamp()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceSet(_Body):
    pool: Token
    chip: Token
    fen_per_hour: int
    effective_from: When | None = None
    currency: str = "CNY"


class FeeSet(_Body):
    fee_bp: int
    effective_from: When | None = None


class ProgramCreate(_Body):
    id: Token
    name: Token
    funder: Token
    kind: str = "compute"
    rate_bp_domestic: int
    rate_bp_other: int
    program_budget_fen: int
    per_tenant_cap_fen: int
    eligible_suppliers: list[str] | None = None
    eligible_chips: list[str] | None = None
    eligible_categories: list[str] | None = None
    valid_months: int = 12
    stack_group: str | None = None
    stack_ceiling_bp: int = 10_000
    currency: str = "CNY"


class GrantCreate(_Body):
    program: Token
    org: Token
    granted_at: When | None = None


class TopUp(_Body):
    amount_fen: int
    currency: str = "CNY"
    idempotency_key: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] | None
    ) = None
    note: Annotated[str, Field(max_length=200)] = ""


class CreditLineSet(_Body):
    limit_fen: int
    currency: str = "CNY"
    note: Annotated[str, Field(max_length=200)] = ""


class BudgetSet(_Body):
    org: str | None = None
    monthly_fen: int
    hard_stop: bool = True
    currency: str = "CNY"
