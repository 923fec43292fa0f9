"""Voucher subsidy per (org, chip) for the scheduler's cost ranking, as the ledger would bill it.

Each share is what ``ledger.rate_charge`` would take off one hour of that chip for that org now:
the same eligibility, stacking, ceilings, program budgets and tenant caps, so the ranking and
the bill cannot disagree. Two simplifications, both towards promising less, never more:
- the table is per chip, not per pool, so programs limited to some suppliers count as zero;
- it is rated as a training job (compute vouchers); model vouchers for serve jobs are left out.
Only orgs holding a grant valid now are rated; every other org is unsubsidised.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.core.catalog import load_catalog
from huangpu.ledger import rate_charge
from huangpu.ledger.usage import UsageLine
from huangpu.store import voucher_repo
from huangpu.store.models import OrgRow

PROBE_PRICE_FEN = 1_000_000  # fen per hour: large, so rounding moves the share by < 0.01 bp
HOUR = 3600


def subsidy_table(
    session: Session, now: float, org_ids: Sequence[str], chips: Sequence[str] | None = None
) -> dict[tuple[str, str], int]:
    """(org id, chip id) -> basis points of the rent vouchers pay; absent means 0."""
    grants = [g for g in voucher_repo.grants(session, list(org_ids)) if g.covers(now, now + 1)]
    if not grants:
        return {}
    holders = sorted({g.org for g in grants})
    category = dict(
        session.execute(select(OrgRow.id, OrgRow.category).where(OrgRow.id.in_(holders))).all()
    )
    rows = {r.id: r for r in voucher_repo.program_rows(session)}
    programs = [voucher_repo.to_program(r) for r in rows.values()]
    spent = {pid: int(r.spent_fen) for pid, r in rows.items()}
    tenant_spent = voucher_repo.tenant_spend(session, holders)
    table: dict[tuple[str, str], int] = {}
    for org in holders:
        mine = [g for g in grants if g.org == org]
        for chip in chips or [m.id for m in load_catalog()]:
            usage = UsageLine(
                job_id="probe",
                org=org,
                org_category=str(category.get(org, "company")),
                supplier="any-supplier",
                pool="any-pool",
                chip=chip,
                job_kind="train",
                device_seconds=HOUR,
                start=now,
                end=now + HOUR,
            )
            rated = rate_charge(usage, PROBE_PRICE_FEN, programs, mine, spent, tenant_spent)
            bp = rated.subsidy_fen * 10_000 // rated.gross_fen
            if bp > 0:
                table[(org, chip)] = int(bp)
    return table
