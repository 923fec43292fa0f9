"""Read what the scheduler needs beyond inventory and queue: suppliers of pools, prices.

Kept apart from ``loop`` so the cycle reads them in the same read transaction as the queue.
Voucher subsidies per (org, chip) and quotas are not read yet (no store tables for them); the
snapshot then treats every org as unsubsidised and unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.control.snapshots import SchedulingContext
from huangpu.core.errors import NotFound
from huangpu.store import pricing_repo
from huangpu.store.models import PoolRow, SupplierRow


def load_context(
    session: Session, now: float, orgs: Sequence[str] = (), blocked: Mapping[str, str] | None = None
) -> SchedulingContext:
    suppliers = {
        pool: (sid, name)
        for pool, sid, name in session.execute(
            select(PoolRow.id, SupplierRow.id, SupplierRow.name).join(
                SupplierRow, SupplierRow.id == PoolRow.supplier_id
            )
        )
    }
    prices = pricing_repo.price_list(session)

    def price(pool: str, chip: str) -> int | None:
        try:
            return prices.price_at(pool, chip, now)
        except NotFound:
            return None  # unpriced: ranks as free; the ledger refuses to rate it later

    return SchedulingContext(
        pool_suppliers=suppliers, price=price, orgs=tuple(orgs), blocked=dict(blocked or {})
    )
