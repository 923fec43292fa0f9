"""Account ids: typed, colon-joined strings whose first segment is the account's kind.

    tenant_cash:<org>             a tenant's prepaid balance (negative = on credit / in grace)
    program_budget:<program>      what a voucher program has left to subsidise
    funder:<funder>               a government funder (city, district) that fills budgets
    supplier_payable:<supplier>   what the platform owes a supplier, settled quarterly
    platform_fee                  the platform's fee income
    external:<name>               money entering or leaving the books (bank: top-ups, payouts)

Sign: an account's balance is the sum of its postings. For holder accounts (tenant cash,
program budget, supplier payable, platform fee) positive means money held for, or owed to,
the holder. Source accounts (funder, external) go negative by what they have put in, so all
balances together always sum to zero.

There is deliberately no per-tenant voucher account: what a tenant has drawn from a program is
derived from the charge transactions themselves (``spend.tenant_program_spend``), so no second
copy of that figure can drift from the postings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

from huangpu.core.errors import InvalidInput
from huangpu.ledger.validation import check_token

AccountId = NewType("AccountId", str)


class AccountKind(StrEnum):
    TENANT_CASH = "tenant_cash"
    PROGRAM_BUDGET = "program_budget"
    FUNDER = "funder"
    SUPPLIER_PAYABLE = "supplier_payable"
    PLATFORM_FEE = "platform_fee"
    EXTERNAL = "external"


# How many id segments follow the kind.
_ARITY = {
    AccountKind.TENANT_CASH: 1,
    AccountKind.PROGRAM_BUDGET: 1,
    AccountKind.FUNDER: 1,
    AccountKind.SUPPLIER_PAYABLE: 1,
    AccountKind.PLATFORM_FEE: 0,
    AccountKind.EXTERNAL: 1,
}


def _make(kind: AccountKind, *parts: str) -> AccountId:
    for part in parts:
        check_token(part, kind.value)
    return AccountId(":".join((kind.value, *parts)))


def tenant_cash(org: str) -> AccountId:
    return _make(AccountKind.TENANT_CASH, org)


def program_budget(program: str) -> AccountId:
    return _make(AccountKind.PROGRAM_BUDGET, program)


def funder(name: str) -> AccountId:
    return _make(AccountKind.FUNDER, name)


def supplier_payable(supplier: str) -> AccountId:
    return _make(AccountKind.SUPPLIER_PAYABLE, supplier)


def platform_fee() -> AccountId:
    return _make(AccountKind.PLATFORM_FEE)


def external(name: str) -> AccountId:
    return _make(AccountKind.EXTERNAL, name)


def parse_account(account: str, field: str = "account") -> tuple[AccountKind, tuple[str, ...]]:
    """'program_budget:sh-city' -> (PROGRAM_BUDGET, ('sh-city',)); anything else is refused."""
    head, *parts = account.split(":") if isinstance(account, str) else ("",)
    try:
        kind = AccountKind(head)
    except ValueError:
        kinds = ", ".join(k.value for k in AccountKind)
        raise InvalidInput(f"unknown account {account!r}; kinds are {kinds}", field) from None
    if len(parts) != _ARITY[kind]:
        raise InvalidInput(
            f"account {account!r} needs {_ARITY[kind]} id(s) after {kind.value!r}", field
        )
    for part in parts:
        check_token(part, field)
    return kind, tuple(parts)


def account_kind(account: str) -> AccountKind:
    return parse_account(account)[0]


def account_owner(account: str) -> str:
    """The id after the kind ('' for platform_fee)."""
    parts = parse_account(account)[1]
    return parts[0] if parts else ""
