"""Quota routes (operator): nominal quota per org and chip family in normalised compute units
(one A100 = 1.0), with Kueue's borrowing and lending limits and the org's cohort. The
scheduler reads them every cycle. Each change writes an audit_log row in its transaction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from huangpu.api.auth import Principal, require
from huangpu.store import dashboard, quota_repo, registry

router = APIRouter(prefix="/v1")
Operator = Annotated[Principal, Depends(require("operator"))]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class QuotaSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org: Annotated[str, Field(min_length=1, max_length=64)]
    family: Annotated[str, Field(min_length=1, max_length=32)]
    nominal: Amount
    borrow_limit: Amount | None = None  # None: may borrow whatever its cohort lends
    lend_limit: Amount | None = None  # None: lends all its idle quota
    cohort: Annotated[str | None, Field(max_length=64)] = None  # "": leave the cohort


@router.post("/quotas")
def set_quota(body: QuotaSet, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    with p.db.write() as session:
        org = registry.org(session, body.org)
        quota_repo.set_quota(
            session,
            org.id,
            body.family,
            body.nominal,
            body.borrow_limit,
            body.lend_limit,
            body.cohort,
            now,
        )
        detail = body.model_dump(mode="json")
        dashboard.audit(session, now, who.token_id, who.role, "quota.set", org.id, detail)
        return next(
            q
            for q in quota_repo.listing(session)
            if q["org_id"] == org.id and q["family"] == body.family
        )


@router.get("/quotas")
def list_quotas(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        return quota_repo.listing(session)
