"""The journal in the database: idempotent, balanced postings and their cached balances.

``post`` is the only way money moves. Inside the caller's write transaction it

1. drops transactions whose key is already stored with the same postings (a repeat is a no-op)
   and refuses a key reused with different postings (``Conflict``);
2. inserts the transaction rows (cause columns for the audit trail) and their postings in
   batches (Core executemany: the benchmark posts millions);
3. adds each account's delta to ``ledger_balances`` (accounts in sorted order, so concurrent
   posters on PostgreSQL lock rows in one order and cannot deadlock), and the usage caches:
   program ``spent_fen``, ``voucher_spend`` per (org, program), ``org_month_spend``;
4. refuses, and so rolls back everything, if a program budget would go below zero.

Transactions are validated by ``huangpu.ledger`` before they get here: balanced, int fen, CNY.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from huangpu.core.errors import Conflict, InvalidInput, NotFound
from huangpu.ledger import (
    AccountId,
    AccountKind,
    Cause,
    CauseKind,
    Posting,
    Transaction,
    month_of,
    parse_account,
)
from huangpu.store.ledger_models import (
    LedgerBalanceRow,
    LedgerPostingRow,
    LedgerTransactionRow,
    OrgMonthSpendRow,
    VoucherProgramRow,
    VoucherSpendRow,
    table_of,
)

_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def upsert_add(session: Session, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """For each row: INSERT it, or add its other columns to the stored row with the same
    ``keys``. One executemany of one statement, so the statement is compiled once."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    deltas = [name for name in rows[0] if name not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + stmt.excluded[name] for name in deltas}
    )
    session.execute(stmt, rows)


def stored_postings(session: Session, keys: Sequence[str]) -> dict[str, list[Posting]]:
    """Postings of the stored transactions among ``keys`` (empty list: stored, no postings)."""
    found: dict[str, list[Posting]] = {}
    for chunk in _chunks(keys):
        for (key,) in session.execute(
            select(LedgerTransactionRow.key).where(LedgerTransactionRow.key.in_(chunk))
        ):
            found[key] = []
        rows = session.execute(
            select(
                LedgerPostingRow.tx_key, LedgerPostingRow.account, LedgerPostingRow.amount_fen
            ).where(LedgerPostingRow.tx_key.in_(chunk))
        )
        for key, account, amount in rows:
            found[key].append(Posting(AccountId(account), int(amount)))
    return found


def _new(session: Session, txs: Sequence[Transaction]) -> list[Transaction]:
    stored = stored_postings(session, [tx.key for tx in txs])
    fresh: dict[str, Transaction] = {}
    for tx in txs:
        seen = fresh.get(tx.key)
        postings = list(seen.postings) if seen else stored.get(tx.key)
        if postings is None:
            fresh[tx.key] = tx
        elif sorted(postings) != sorted(tx.postings):
            raise Conflict(
                f"transaction {tx.key!r} was already posted with different postings; "
                "post a correction under a new key (or reverse the old one)",
                "key",
            )
    return list(fresh.values())


def _check_reversals(session: Session, txs: Sequence[Transaction]) -> None:
    for tx in txs:
        target = tx.cause.reverses
        if target is None:
            continue
        if session.get(LedgerTransactionRow, target) is None:
            raise NotFound(f"no transaction {target!r} to reverse", "cause.reverses")
        done = session.scalar(
            select(LedgerTransactionRow.key).where(LedgerTransactionRow.reverses == target)
        )
        if done is not None:
            raise Conflict(f"transaction {target!r} was already reversed by {done!r}", "key")


def _tx_row(tx: Transaction, posted_at: float) -> dict[str, Any]:
    why = tx.cause
    return {
        "key": tx.key,
        "at": tx.at,
        "currency": tx.currency,
        "cause_kind": why.kind.value,
        "actor": why.actor,
        "note": why.note,
        "org_id": why.org,
        "job_id": why.job_id,
        "supplier_id": why.supplier,
        "pool_id": why.pool,
        "chip": why.chip,
        "window_start": why.window[0] if why.window else None,
        "window_end": why.window[1] if why.window else None,
        "device_seconds": why.device_seconds,
        "reverses": why.reverses,
        "posted_at": posted_at,
    }


def post(session: Session, txs: Sequence[Transaction], posted_at: float) -> list[Transaction]:
    """Post ``txs`` in the caller's transaction; returns those that were new."""
    new = _new(session, txs)
    if not new:
        return []
    _check_reversals(session, new)
    tx_table, posting_table = table_of(LedgerTransactionRow), table_of(LedgerPostingRow)
    session.execute(insert(tx_table), [_tx_row(tx, posted_at) for tx in new])
    postings = [
        {"tx_key": tx.key, "account": p.account, "amount_fen": p.amount_fen}
        for tx in new
        for p in tx.postings
    ]
    if postings:
        session.execute(insert(posting_table), postings)
    deltas: defaultdict[str, int] = defaultdict(int)
    for tx in new:
        for p in tx.postings:
            deltas[p.account] += p.amount_fen
    upsert_add(
        session,
        table_of(LedgerBalanceRow),
        ["account"],
        [{"account": a, "balance_fen": deltas[a]} for a in sorted(deltas)],
    )
    _update_usage_caches(session, new)
    _guard_program_budgets(session, [a for a in deltas if a.startswith("program_budget:")])
    return new


def _update_usage_caches(session: Session, txs: Sequence[Transaction]) -> None:
    programs: defaultdict[str, int] = defaultdict(int)
    tenant: defaultdict[tuple[str, str], int] = defaultdict(int)
    months: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for tx in txs:
        if tx.cause.kind is not CauseKind.USAGE or tx.cause.org is None:
            continue
        org = tx.cause.org
        cash = subsidy = 0
        for p in tx.postings:
            kind, parts = parse_account(p.account)
            if kind is AccountKind.TENANT_CASH:
                cash -= p.amount_fen
            elif kind is AccountKind.PROGRAM_BUDGET:
                subsidy -= p.amount_fen
                programs[parts[0]] -= p.amount_fen
                tenant[(org, parts[0])] -= p.amount_fen
        cell = months[(org, month_of(tx.at))]
        cell[0] += cash + subsidy
        cell[1] += cash
    for program in sorted(programs):
        session.execute(
            update(VoucherProgramRow)
            .where(VoucherProgramRow.id == program)
            .values(spent_fen=VoucherProgramRow.spent_fen + programs[program])
        )
    upsert_add(
        session,
        table_of(VoucherSpendRow),
        ["org_id", "program_id"],
        [{"org_id": o, "program_id": p, "spent_fen": v} for (o, p), v in sorted(tenant.items())],
    )
    upsert_add(
        session,
        table_of(OrgMonthSpendRow),
        ["org_id", "month"],
        [
            {"org_id": o, "month": m, "gross_fen": gross, "cash_fen": cash}
            for (o, m), (gross, cash) in sorted(months.items())
        ],
    )


def _guard_program_budgets(session: Session, accounts: list[str]) -> None:
    if not accounts:
        return
    below = session.execute(
        select(LedgerBalanceRow.account, LedgerBalanceRow.balance_fen).where(
            LedgerBalanceRow.account.in_(accounts), LedgerBalanceRow.balance_fen < 0
        )
    ).first()
    if below is not None:
        raise InvalidInput(
            f"{below[0]} would go to {below[1]} fen: the program is over budget",
            "program_budget_fen",
        )


def balance(session: Session, account: str) -> int:
    value = session.scalar(
        select(LedgerBalanceRow.balance_fen).where(LedgerBalanceRow.account == account)
    )
    return int(value or 0)


def balances(session: Session, prefix: str | None = None) -> dict[str, int]:
    query = select(LedgerBalanceRow.account, LedgerBalanceRow.balance_fen)
    if prefix is not None:
        query = query.where(LedgerBalanceRow.account.startswith(prefix))
    return {account: int(amount) for account, amount in session.execute(query)}


def _cause(row: LedgerTransactionRow) -> Cause:
    window = None
    if row.window_start is not None and row.window_end is not None:
        window = (row.window_start, row.window_end)
    return Cause(
        kind=CauseKind(row.cause_kind),
        actor=row.actor,
        note=row.note,
        org=row.org_id,
        job_id=row.job_id,
        supplier=row.supplier_id,
        pool=row.pool_id,
        chip=row.chip,
        window=window,
        device_seconds=int(row.device_seconds),
        reverses=row.reverses,
    )


def transactions(session: Session, *where: ColumnElement[bool]) -> list[Transaction]:
    """Stored transactions (filtered by ``where`` on LedgerTransactionRow), in key order."""
    rows = session.scalars(
        select(LedgerTransactionRow).where(*where).order_by(LedgerTransactionRow.key)
    ).all()
    legs: defaultdict[str, list[Posting]] = defaultdict(list)
    keys = [r.key for r in rows]
    for chunk in _chunks(keys):
        for key, account, amount in session.execute(
            select(
                LedgerPostingRow.tx_key, LedgerPostingRow.account, LedgerPostingRow.amount_fen
            ).where(LedgerPostingRow.tx_key.in_(chunk))
        ):
            legs[key].append(Posting(AccountId(account), int(amount)))
    return [Transaction(r.key, tuple(legs[r.key]), _cause(r), r.at, r.currency) for r in rows]


def usage_between(session: Session, start: float, end: float) -> list[Transaction]:
    return transactions(
        session,
        LedgerTransactionRow.cause_kind == CauseKind.USAGE.value,
        LedgerTransactionRow.at >= start,
        LedgerTransactionRow.at < end,
    )
