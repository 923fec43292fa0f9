"""Quotas per (org, chip family) and cohorts: set, list, and the table the scheduler reads."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from huangpu.core.errors import InvalidInput
from huangpu.core.families import FAMILIES
from huangpu.store.models import OrgRow
from huangpu.store.quota_models import OrgCohortRow, OrgQuotaRow

COHORT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class QuotaEntry:
    """NCU; a None limit is unlimited (Kueue's unset borrowingLimit / lendingLimit)."""

    nominal: float
    borrow_limit: float | None
    lend_limit: float | None


def _amount(value: float | None, field: str, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise InvalidInput(
            f"{field} must be a finite number ≥ 0 (compute units), got {value}", field
        )
    return float(value)


def validate(
    family: str, nominal: float, borrow: float | None, lend: float | None, cohort: str | None
) -> None:
    if family not in FAMILIES:
        raise InvalidInput(
            f"unknown chip family {family!r}; one of {', '.join(sorted(FAMILIES))}", "family"
        )
    _amount(nominal, "nominal", optional=False)
    _amount(borrow, "borrow_limit", optional=True)
    _amount(lend, "lend_limit", optional=True)
    if lend is not None and lend > nominal:
        raise InvalidInput(
            f"lend_limit ({lend:g}) cannot exceed the nominal quota ({nominal:g})", "lend_limit"
        )
    if cohort and not COHORT_RE.match(cohort):
        raise InvalidInput(
            f"cohort must be a plain name (letters, digits, . _ -), got {cohort!r}", "cohort"
        )


def set_quota(
    session: Session,
    org_id: str,
    family: str,
    nominal: float,
    borrow: float | None,
    lend: float | None,
    cohort: str | None,
    now: float,
) -> None:
    """Create or replace one (org, family) quota. ``cohort``: None keeps the org's cohort,
    "" takes the org out of its cohort, anything else moves it there."""
    validate(family, nominal, borrow, lend, cohort)
    row = session.get(OrgQuotaRow, (org_id, family))
    if row is None:
        row = OrgQuotaRow(org_id=org_id, family=family)
        session.add(row)
    row.nominal, row.borrow_limit, row.lend_limit, row.updated_at = nominal, borrow, lend, now
    if cohort is not None:
        current = session.get(OrgCohortRow, org_id)
        if not cohort and current is not None:
            session.delete(current)
        elif cohort and current is None:
            session.add(OrgCohortRow(org_id=org_id, cohort=cohort, updated_at=now))
        elif cohort and current is not None:
            current.cohort, current.updated_at = cohort, now
    session.flush()


def quota_table(session: Session) -> tuple[dict[tuple[str, str], QuotaEntry], dict[str, str]]:
    """((org id, family) -> entry, org id -> cohort), for the scheduler's snapshot."""
    entries = {
        (r.org_id, r.family): QuotaEntry(r.nominal, r.borrow_limit, r.lend_limit)
        for r in session.scalars(select(OrgQuotaRow))
    }
    cohorts = dict(session.execute(select(OrgCohortRow.org_id, OrgCohortRow.cohort)).all())
    return entries, {str(k): str(v) for k, v in cohorts.items()}


def listing(session: Session) -> list[dict[str, object]]:
    """Every quota with its org's name and cohort, ordered by org name then family."""
    cohorts = quota_table(session)[1]
    rows = session.execute(
        select(OrgQuotaRow, OrgRow.name)
        .join(OrgRow, OrgRow.id == OrgQuotaRow.org_id)
        .order_by(OrgRow.name, OrgQuotaRow.family)
    ).all()
    return [
        {
            "org_id": q.org_id,
            "org": name,
            "family": q.family,
            "nominal": q.nominal,
            "borrow_limit": q.borrow_limit,
            "lend_limit": q.lend_limit,
            "cohort": cohorts.get(q.org_id),
            "updated_at": q.updated_at,
        }
        for q, name in rows
    ]
