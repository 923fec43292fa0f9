"""Cash limits and budgets: credit lines, monthly budgets, their alerts, admission stops."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from huangpu.ledger import budget_alerts, tenant_cash
from huangpu.ledger.validation import check_fen
from huangpu.store import ledger_repo
from huangpu.store.ledger_models import (
    AdmissionStopRow,
    BudgetAlertRow,
    CreditLineRow,
    OrgBudgetRow,
    OrgMonthSpendRow,
)


def set_credit_line(
    session: Session, org_id: str, limit_fen: int, now: float, actor: str, note: str = ""
) -> CreditLineRow:
    check_fen(limit_fen, "limit_fen")
    row = CreditLineRow(org_id=org_id, limit_fen=limit_fen, actor=actor, note=note, set_at=now)
    session.add(row)
    session.flush()
    return row


def credit_limit(session: Session, org_id: str) -> int:
    value = session.scalar(
        select(CreditLineRow.limit_fen)
        .where(CreditLineRow.org_id == org_id)
        .order_by(CreditLineRow.id.desc())
        .limit(1)
    )
    return int(value or 0)


def cash_available(session: Session, org_id: str) -> tuple[int, int]:
    """(prepaid balance, credit line): the org may spend until their sum reaches zero."""
    return ledger_repo.balance(session, tenant_cash(org_id)), credit_limit(session, org_id)


def set_budget(
    session: Session, org_id: str, monthly_fen: int, hard_stop: bool, now: float, actor: str
) -> OrgBudgetRow:
    check_fen(monthly_fen, "monthly_fen", positive=True)
    row = session.get(OrgBudgetRow, org_id)
    if row is None:
        row = OrgBudgetRow(
            org_id=org_id, monthly_fen=monthly_fen, hard_stop=hard_stop, actor=actor, updated_at=now
        )
        session.add(row)
    else:
        row.monthly_fen, row.hard_stop, row.actor, row.updated_at = (
            monthly_fen,
            hard_stop,
            actor,
            now,
        )
    session.flush()
    return row


def budget(session: Session, org_id: str) -> OrgBudgetRow | None:
    return session.get(OrgBudgetRow, org_id)


def month_spend(session: Session, org_id: str, month: str) -> tuple[int, int]:
    """(gross, cash) the org's usage cost in ``month`` so far."""
    row = session.get(OrgMonthSpendRow, (org_id, month))
    return (int(row.gross_fen), int(row.cash_fen)) if row else (0, 0)


def alerts(session: Session, org_id: str, month: str | None = None) -> list[BudgetAlertRow]:
    query = select(BudgetAlertRow).where(BudgetAlertRow.org_id == org_id)
    if month is not None:
        query = query.where(BudgetAlertRow.month == month)
    return list(session.scalars(query.order_by(BudgetAlertRow.month, BudgetAlertRow.threshold_pct)))


def fire_alerts(session: Session, org_id: str, month: str, now: float) -> list[int]:
    """Record the thresholds (50/80/100 % of the budget) the month's cash spend has newly
    reached; each fires once per org and month. Returns those fired now."""
    row = budget(session, org_id)
    if row is None:
        return []
    spent = month_spend(session, org_id, month)[1]
    fired = {a.threshold_pct for a in alerts(session, org_id, month)}
    new = budget_alerts(spent, int(row.monthly_fen), fired)
    for pct in new:
        session.add(
            BudgetAlertRow(
                org_id=org_id,
                month=month,
                threshold_pct=pct,
                spent_fen=spent,
                budget_fen=int(row.monthly_fen),
                fired_at=now,
            )
        )
    session.flush()
    return list(new)


def stops(session: Session) -> dict[str, AdmissionStopRow]:
    return {r.org_id: r for r in session.scalars(select(AdmissionStopRow))}


def set_stop(session: Session, org_id: str, reason: str, now: float) -> None:
    row = session.get(AdmissionStopRow, org_id)
    if row is None:
        session.add(AdmissionStopRow(org_id=org_id, reason=reason, since=now))
    else:
        row.reason = reason  # keep ``since``: the grace counts from the first stop


def clear_stop(session: Session, org_id: str) -> None:
    session.execute(delete(AdmissionStopRow).where(AdmissionStopRow.org_id == org_id))
