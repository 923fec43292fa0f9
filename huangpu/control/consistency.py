"""Checks that the books agree with themselves, for ``huangpu db check`` and the crash tests.

- the database is at the newest migration;
- every ledger transaction's postings sum to zero (so all postings together do too);
- every cached account balance equals the sum of that account's postings;
- every voucher program's budget left equals its budget less its cached spend;
- every usage sample marked as charged points at a ledger transaction that exists.

Each finding is one line naming what disagrees; no findings means consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from huangpu.store.db import Database, current_revision, head_revision
from huangpu.store.ledger_models import (
    LedgerBalanceRow,
    LedgerPostingRow,
    LedgerTransactionRow,
    VoucherProgramRow,
)
from huangpu.store.models import UsageSampleRow


@dataclass
class Report:
    revision: str | None
    head: str | None
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(db: Database) -> Report:
    report = Report(current_revision(db), head_revision())
    if report.revision != report.head:
        report.problems.append(
            f"database is at migration {report.revision}, the code expects {report.head}: "
            "run `huangpu db upgrade`"
        )
        return report  # the tables below may not exist yet
    with db.read() as s:
        unbalanced = s.execute(
            select(LedgerPostingRow.tx_key, func.sum(LedgerPostingRow.amount_fen))
            .group_by(LedgerPostingRow.tx_key)
            .having(func.sum(LedgerPostingRow.amount_fen) != 0)
        ).all()
        for key, total in unbalanced:
            report.problems.append(f"transaction {key}: postings sum to {total} fen, not 0")
        total = int(s.scalar(select(func.coalesce(func.sum(LedgerPostingRow.amount_fen), 0))) or 0)
        if total != 0:
            report.problems.append(f"all postings sum to {total} fen, not 0")
        sums = dict(
            s.execute(
                select(LedgerPostingRow.account, func.sum(LedgerPostingRow.amount_fen)).group_by(
                    LedgerPostingRow.account
                )
            ).all()
        )
        balances = select(LedgerBalanceRow.account, LedgerBalanceRow.balance_fen)
        cached = {a: int(b) for a, b in s.execute(balances)}
        for account in sorted(set(sums) | set(cached)):
            posted, held = int(sums.get(account, 0)), int(cached.get(account, 0))
            if posted != held:
                report.problems.append(
                    f"account {account}: cached balance {held} fen, postings say {posted}"
                )
        for program in s.scalars(select(VoucherProgramRow)):
            left = int(sums.get(f"program_budget:{program.id}", 0))
            expected = int(program.program_budget_fen) - int(program.spent_fen)
            if left != expected:
                report.problems.append(
                    f"program {program.id}: {left} fen left in postings, but budget "
                    f"{program.program_budget_fen} less spent {program.spent_fen} is {expected}"
                )
        dangling = s.scalar(
            select(func.count())
            .select_from(UsageSampleRow)
            .outerjoin(LedgerTransactionRow, LedgerTransactionRow.key == UsageSampleRow.charge_key)
            .where(UsageSampleRow.charge_key.is_not(None), LedgerTransactionRow.key.is_(None))
        )
        if dangling:
            report.problems.append(f"{dangling} usage sample(s) charged by a missing transaction")
        report.counts = {
            "transactions": int(s.scalar(select(func.count(LedgerTransactionRow.key))) or 0),
            "postings": int(s.scalar(select(func.count(LedgerPostingRow.id))) or 0),
            "accounts": len(sums),
            "usage_samples": int(s.scalar(select(func.count(UsageSampleRow.id))) or 0),
        }
    return report
