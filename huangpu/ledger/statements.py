"""Statements for tenants, settlements for suppliers, and monthly budget alerts.

All figures are derived from usage transactions (reversals included, which net out), so a
statement can always be recomputed from the journal and agrees with the balances. A charge
belongs to the period containing its ``at`` (the end of its usage window), in Beijing time
(``periods``); metering splits windows at month ends when a line must not straddle one.

For a charge: gross = tenant cash + Σ program subsidies = supplier share + platform fee.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from huangpu.core.errors import InvalidInput
from huangpu.ledger.accounts import AccountKind, parse_account
from huangpu.ledger.periods import month_window, quarter_window
from huangpu.ledger.postings import CauseKind, Transaction
from huangpu.ledger.rating import Subsidy
from huangpu.ledger.validation import check_token

ALERT_THRESHOLDS_PCT = (50, 80, 100)


@dataclass(frozen=True, slots=True)
class _Split:
    """One usage transaction's money, read back from its postings."""

    tx: Transaction
    cash: int
    subsidies: dict[str, int]
    fee: int

    @property
    def gross(self) -> int:
        return self.cash + sum(self.subsidies.values())


def _splits(transactions: Iterable[Transaction], start: float, end: float) -> Iterator[_Split]:
    for tx in transactions:
        if tx.cause.kind is not CauseKind.USAGE or not start <= tx.at < end:
            continue
        cash = fee = 0
        subsidies: defaultdict[str, int] = defaultdict(int)
        for posting in tx.postings:
            kind, parts = parse_account(posting.account)
            if kind is AccountKind.TENANT_CASH:
                cash -= posting.amount_fen
            elif kind is AccountKind.PROGRAM_BUDGET:
                subsidies[parts[0]] -= posting.amount_fen
            elif kind is AccountKind.PLATFORM_FEE:
                fee += posting.amount_fen
        yield _Split(tx, cash, dict(subsidies), fee)


def _subsidy_tuple(amounts: dict[str, int]) -> tuple[Subsidy, ...]:
    return tuple(Subsidy(p, amount) for p, amount in sorted(amounts.items()) if amount)


def _add(into: defaultdict[str, int], amounts: dict[str, int]) -> None:
    for program, amount in amounts.items():
        into[program] += amount


@dataclass(frozen=True, slots=True)
class StatementLine:
    job_id: str
    chip: str
    supplier: str
    device_seconds: int
    gross_fen: int
    subsidies: tuple[Subsidy, ...]  # per program, by program id
    cash_fen: int


@dataclass(frozen=True, slots=True)
class Statement:
    org: str
    month: str  # "2026-11"
    lines: tuple[StatementLine, ...]  # by job, chip, supplier
    gross_fen: int
    subsidies: tuple[Subsidy, ...]  # totals per program
    cash_fen: int

    @property
    def subsidy_fen(self) -> int:
        return sum(s.amount_fen for s in self.subsidies)


def statement(transactions: Iterable[Transaction], org: str, month: str) -> Statement:
    """The org's bill for a month: one line per job × chip × supplier."""
    check_token(org, "org")
    start, end = month_window(month)
    grouped: dict[tuple[str, str, str], list[_Split]] = defaultdict(list)
    for split in _splits(transactions, start, end):
        why = split.tx.cause
        if why.org != org:
            continue
        grouped[(why.job_id or "", why.chip or "", why.supplier or "")].append(split)
    lines: list[StatementLine] = []
    totals: defaultdict[str, int] = defaultdict(int)
    for (job_id, chip, supplier), splits in sorted(grouped.items()):
        programs: defaultdict[str, int] = defaultdict(int)
        for split in splits:
            _add(programs, split.subsidies)
        _add(totals, programs)
        lines.append(
            StatementLine(
                job_id=job_id,
                chip=chip,
                supplier=supplier,
                device_seconds=sum(s.tx.cause.device_seconds for s in splits),
                gross_fen=sum(s.gross for s in splits),
                subsidies=_subsidy_tuple(programs),
                cash_fen=sum(s.cash for s in splits),
            )
        )
    return Statement(
        org=org,
        month=month,
        lines=tuple(lines),
        gross_fen=sum(line.gross_fen for line in lines),
        subsidies=_subsidy_tuple(totals),
        cash_fen=sum(line.cash_fen for line in lines),
    )


@dataclass(frozen=True, slots=True)
class SupplierSettlement:
    """What the platform owes one supplier for a quarter's usage.

    owed = cash + Σ subsidies − fee: the supplier invoices the full gross, the tenants' cash
    and each program's subsidy are paid over, and the platform keeps its fee.
    """

    supplier: str
    gross_fen: int
    cash_fen: int
    subsidies: tuple[Subsidy, ...]
    fee_fen: int

    @property
    def owed_fen(self) -> int:
        return self.gross_fen - self.fee_fen


def settlement(transactions: Iterable[Transaction], quarter: str) -> tuple[SupplierSettlement, ...]:
    """Per supplier (by id): the quarter's usage, split into tenant cash and each program."""
    start, end = quarter_window(quarter)
    gross: defaultdict[str, int] = defaultdict(int)
    cash: defaultdict[str, int] = defaultdict(int)
    fee: defaultdict[str, int] = defaultdict(int)
    programs: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for split in _splits(transactions, start, end):
        supplier = split.tx.cause.supplier or ""
        gross[supplier] += split.gross
        cash[supplier] += split.cash
        fee[supplier] += split.fee
        _add(programs[supplier], split.subsidies)
    return tuple(
        SupplierSettlement(
            supplier=supplier,
            gross_fen=gross[supplier],
            cash_fen=cash[supplier],
            subsidies=_subsidy_tuple(programs[supplier]),
            fee_fen=fee[supplier],
        )
        for supplier in sorted(gross)
    )


def budget_alerts(spent: int, budget: int, already_fired: Collection[int] = ()) -> tuple[int, ...]:
    """Thresholds (percent of ``budget``) that ``spent`` has reached and that have not fired.

    Exact integer comparison: 50% of 999 fen is reached at 500 fen, not 499. Reaching 100% is
    also the hard stop for admitting new jobs (``over_budget``).
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise InvalidInput("a budget must be an int of fen > 0", "budget")
    if isinstance(spent, bool) or not isinstance(spent, int):
        raise InvalidInput("spent must be an int of fen", "spent")
    return tuple(
        pct
        for pct in ALERT_THRESHOLDS_PCT
        if pct not in already_fired and spent * 100 >= budget * pct
    )


def over_budget(spent: int, budget: int) -> bool:
    """The hard stop: admission of new jobs halts once the month's budget is spent."""
    return 100 in budget_alerts(spent, budget)
