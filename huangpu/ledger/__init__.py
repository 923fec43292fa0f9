"""The ledger: double-entry postings in integer fen, price lists, voucher programs, rating,
statements and settlement. Pure: no I/O beyond package data, no database, no clock (every time
is passed in). Imports only ``huangpu.core`` and the standard library.

    accounts     account ids (``tenant_cash:<org>`` …) and their kinds
    postings     Posting, Transaction (balanced, keyed), Cause (who / what)
    journal      in-memory, idempotent application with derived balances and reversals
    prices       PriceEntry, PriceList (append-only per pool and chip), seed_prices()
    vouchers     VoucherProgram, VoucherGrant, eligibility
    usage        UsageSample, UsageLine, aggregate()
    rating       rate_charge() and charge_transaction(); the rounding rule is written there
    spend        what programs and tenants have drawn, from the transactions
    statements   Statement, settlement(), budget_alerts()
    periods      months and quarters in Beijing time
"""

from __future__ import annotations

from huangpu.ledger.accounts import (
    AccountId,
    AccountKind,
    account_kind,
    account_owner,
    external,
    funder,
    parse_account,
    platform_fee,
    program_budget,
    supplier_payable,
    tenant_cash,
)
from huangpu.ledger.journal import Journal, balances_of
from huangpu.ledger.periods import add_months, month_of, month_window, quarter_window
from huangpu.ledger.postings import Cause, CauseKind, Posting, Transaction, transfer
from huangpu.ledger.prices import PriceEntry, PriceList, seed_prices
from huangpu.ledger.rating import (
    Declined,
    RatedCharge,
    Subsidy,
    charge_transaction,
    gross_fen,
    rate_charge,
    usage_key,
)
from huangpu.ledger.spend import program_spend, tenant_program_spend
from huangpu.ledger.statements import (
    Statement,
    StatementLine,
    SupplierSettlement,
    budget_alerts,
    over_budget,
    settlement,
    statement,
)
from huangpu.ledger.usage import UsageLine, UsageSample, aggregate
from huangpu.ledger.validation import CURRENCY, MAX_AMOUNT_FEN
from huangpu.ledger.vouchers import (
    ProgramKind,
    Redemption,
    VoucherGrant,
    VoucherProgram,
    decline_reason,
    require_redeemable,
)

__all__ = [
    "CURRENCY",
    "MAX_AMOUNT_FEN",
    "AccountId",
    "AccountKind",
    "Cause",
    "CauseKind",
    "Declined",
    "Journal",
    "Posting",
    "PriceEntry",
    "PriceList",
    "ProgramKind",
    "RatedCharge",
    "Redemption",
    "Statement",
    "StatementLine",
    "Subsidy",
    "SupplierSettlement",
    "Transaction",
    "UsageLine",
    "UsageSample",
    "VoucherGrant",
    "VoucherProgram",
    "account_kind",
    "account_owner",
    "add_months",
    "aggregate",
    "balances_of",
    "budget_alerts",
    "charge_transaction",
    "decline_reason",
    "external",
    "funder",
    "gross_fen",
    "month_of",
    "month_window",
    "over_budget",
    "parse_account",
    "platform_fee",
    "program_budget",
    "program_spend",
    "quarter_window",
    "rate_charge",
    "require_redeemable",
    "seed_prices",
    "settlement",
    "statement",
    "supplier_payable",
    "tenant_cash",
    "tenant_program_spend",
    "transfer",
    "usage_key",
]
