"""Money stops: which orgs may not start new jobs, and cancelling after the cash grace.

Two stops, checked by the scheduler before each cycle against cached figures (cheap reads):

- CASH_EXHAUSTED: the org's prepaid balance plus its credit line is used up. This applies to
  orgs on a cash footing, i.e. that were ever topped up or given a credit line; an org the
  operator never set up is not stopped (it is billed, and its balance goes negative).
  Its running jobs get ``cash_grace_seconds`` to finish before they are cancelled.
- BUDGET_EXHAUSTED: the org's own monthly budget (hard stop) is reached. Running jobs go on;
  only admission stops, as the tenant asked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from huangpu.core.money import format_cny
from huangpu.core.states import LEASED
from huangpu.ledger import CauseKind, month_of
from huangpu.store import budget_repo
from huangpu.store.db import Database
from huangpu.store.ledger_models import CreditLineRow, LedgerTransactionRow
from huangpu.store.models import JobRow, OrgRow

log = logging.getLogger(__name__)
CASH = "CASH_EXHAUSTED"
BUDGET = "BUDGET_EXHAUSTED"


def on_cash_footing(session: Session, org_id: str) -> bool:
    credit = session.scalar(select(CreditLineRow.id).where(CreditLineRow.org_id == org_id).limit(1))
    if credit is not None:
        return True
    topup = session.scalar(
        select(LedgerTransactionRow.key)
        .where(
            LedgerTransactionRow.org_id == org_id,
            LedgerTransactionRow.cause_kind == CauseKind.OPERATOR.value,
        )
        .limit(1)
    )
    return topup is not None


def stop_reason(session: Session, org_id: str, now: float) -> str | None:
    """Why ``org_id`` may not start jobs now, or None."""
    name = session.scalar(select(OrgRow.name).where(OrgRow.id == org_id)) or org_id
    balance, credit = budget_repo.cash_available(session, org_id)
    if balance + credit <= 0 and on_cash_footing(session, org_id):
        return (
            f"{CASH}: prepaid balance {format_cny(balance)} with credit line "
            f"{format_cny(credit)} is used up; top up with `huangpu topup --org {name} "
            "--amount 1000`"
        )
    budget = budget_repo.budget(session, org_id)
    if budget is not None and budget.hard_stop:
        month = month_of(now)
        spent = budget_repo.month_spend(session, org_id, month)[1]
        if spent >= budget.monthly_fen:
            return (
                f"{BUDGET}: monthly budget {format_cny(int(budget.monthly_fen))} reached "
                f"({format_cny(spent)} spent in {month}); raise it with "
                f"`huangpu budgets set --org {name} --monthly <CNY>`"
            )
    return None


def blocked(session: Session, org_ids: Iterable[str], now: float) -> dict[str, str]:
    reasons = {org: stop_reason(session, org, now) for org in sorted(set(org_ids))}
    return {org: why for org, why in reasons.items() if why is not None}


def enforce_grace(db: Database, now: float, grace_seconds: float) -> int:
    """Record cash stops for orgs with running jobs; cancel those jobs once the grace is over.

    Returns how many jobs were asked to stop.
    """
    leased = [s.value for s in LEASED]
    with db.write() as session:
        running = set(session.scalars(select(JobRow.org_id).where(JobRow.state.in_(leased))))
        stops = budget_repo.stops(session)
        cancelled = 0
        for org in sorted(running | set(stops)):
            why = stop_reason(session, org, now)
            if why is None or not why.startswith(CASH):
                budget_repo.clear_stop(session, org)
                continue
            budget_repo.set_stop(session, org, why, now)
            since = stops[org].since if org in stops else now
            if now - since < grace_seconds:
                continue
            result = session.execute(
                update(JobRow)
                .where(
                    JobRow.org_id == org,
                    JobRow.state.in_(leased),
                    JobRow.cancel_requested.is_(False),
                )
                .values(cancel_requested=True, reason=f"{why} (grace of {grace_seconds:.0f}s over)")
            )
            cancelled += result.rowcount or 0  # type: ignore[attr-defined]
        if cancelled:
            log.warning("cash grace over: asked %d running job(s) to stop", cancelled)
        return cancelled
