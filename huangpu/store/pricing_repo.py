"""Price entries and the platform fee, append-only: a change never rewrites the past."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.core.errors import InvalidInput
from huangpu.ledger import PriceEntry, PriceList
from huangpu.ledger.validation import check_bp, check_time
from huangpu.store.ledger_models import PlatformFeeRow, PriceEntryRow


def _entry(row: PriceEntryRow) -> PriceEntry:
    return PriceEntry(
        row.supplier_id, row.pool_id, row.chip, int(row.fen_per_hour), row.effective_from
    )


def price_list(session: Session, pool_ids: Sequence[str] | None = None) -> PriceList:
    """Every price of ``pool_ids`` (all pools when None). The fee is looked up per time."""
    query = select(PriceEntryRow)
    if pool_ids is not None:
        query = query.where(PriceEntryRow.pool_id.in_(list(pool_ids)))
    return PriceList(tuple(_entry(r) for r in session.scalars(query)))


def price_rows(session: Session) -> Sequence[PriceEntryRow]:
    return session.scalars(
        select(PriceEntryRow).order_by(
            PriceEntryRow.pool_id, PriceEntryRow.chip, PriceEntryRow.effective_from
        )
    ).all()


def add_price(session: Session, entry: PriceEntry, now: float, actor: str) -> PriceEntryRow:
    """Append ``entry``; ``PriceList.add`` refuses one at or before the latest, or before now."""
    price_list(session, [entry.pool]).add(entry, now)
    row = PriceEntryRow(
        supplier_id=entry.supplier,
        pool_id=entry.pool,
        chip=entry.chip,
        fen_per_hour=entry.fen_per_hour,
        effective_from=entry.effective_from,
        actor=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def set_fee(
    session: Session, fee_bp: int, effective_from: float, now: float, actor: str
) -> PlatformFeeRow:
    check_bp(fee_bp, "fee_bp")
    check_time(effective_from, "effective_from")
    latest = session.scalar(
        select(PlatformFeeRow.effective_from)
        .order_by(PlatformFeeRow.effective_from.desc())
        .limit(1)
    )
    if effective_from < now or (latest is not None and effective_from <= latest):
        raise InvalidInput(
            "a fee change must take effect after now and after the latest change "
            "(fees never rewrite the past)",
            "effective_from",
        )
    row = PlatformFeeRow(fee_bp=fee_bp, effective_from=effective_from, actor=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


def fees(session: Session) -> list[tuple[float, int]]:
    """(effective_from, fee_bp), oldest first."""
    rows = session.execute(
        select(PlatformFeeRow.effective_from, PlatformFeeRow.fee_bp).order_by(
            PlatformFeeRow.effective_from
        )
    )
    return [(float(t), int(bp)) for t, bp in rows]


def fee_at(schedule: Sequence[tuple[float, int]], t: float) -> int:
    bp = 0
    for start, value in schedule:
        if start > t:
            break
        bp = value
    return bp
