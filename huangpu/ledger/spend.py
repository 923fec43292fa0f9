"""What voucher programs have paid out, derived from the charge transactions themselves.

These are the ``spent_by_program`` and ``spent_by_tenant_program`` inputs of
``rating.rate_charge``. Only usage charges count (a reversal of one nets it out); an operator
funding or trimming a budget changes what is left, not what was spent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from huangpu.ledger.accounts import AccountKind, parse_account
from huangpu.ledger.postings import CauseKind, Transaction


def _subsidies(tx: Transaction) -> Iterable[tuple[str, int]]:
    if tx.cause.kind is not CauseKind.USAGE:
        return
    for posting in tx.postings:
        kind, parts = parse_account(posting.account)
        if kind is AccountKind.PROGRAM_BUDGET:
            yield parts[0], -posting.amount_fen


def program_spend(transactions: Iterable[Transaction]) -> dict[str, int]:
    """program id -> subsidy paid, in fen."""
    spent: defaultdict[str, int] = defaultdict(int)
    for tx in transactions:
        for program, amount in _subsidies(tx):
            spent[program] += amount
    return {program: amount for program, amount in spent.items() if amount}


def tenant_program_spend(transactions: Iterable[Transaction]) -> dict[tuple[str, str], int]:
    """(org, program id) -> subsidy that org has drawn, in fen."""
    spent: defaultdict[tuple[str, str], int] = defaultdict(int)
    for tx in transactions:
        org = tx.cause.org
        if org is None:
            continue
        for program, amount in _subsidies(tx):
            spent[(org, program)] += amount
    return {key: amount for key, amount in spent.items() if amount}
