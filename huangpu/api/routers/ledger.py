"""Money routes: prices, the platform fee, voucher programs and grants, top-ups and credit
lines, settlements (operator); bills, balances and budgets (tenants for their own org, and
operators for any org).

Every change writes an audit_log row in the change's own transaction (huangpu.api.audit)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from huangpu.api.audit import AuditedDatabase, AuditEntry
from huangpu.api.auth import Principal, require
from huangpu.api.ledger_schemas import (
    BudgetSet,
    CreditLineSet,
    FeeSet,
    GrantCreate,
    PriceSet,
    ProgramCreate,
    TopUp,
    epoch,
)
from huangpu.control.ledger_service import LedgerService

router = APIRouter(prefix="/v1")
Operator = Annotated[Principal, Depends(require("operator"))]
Member = Annotated[Principal, Depends(require("tenant", "operator"))]
Anyone = Annotated[Principal, Depends(require("tenant", "operator", "agent"))]


def _service(request: Request, audit: AuditEntry | None = None) -> LedgerService:
    p = request.app.state.platform
    if audit is None:
        return LedgerService(p.db, p.clock)
    return LedgerService(AuditedDatabase(p.db, audit, p.clock.now()), p.clock)


def _actor(who: Principal) -> str:
    return f"{who.role}:{who.token_id}"


@router.post("/prices", status_code=201)
def set_price(body: PriceSet, request: Request, who: Operator) -> dict[str, Any]:
    detail = body.model_dump(mode="json")
    return _service(request, AuditEntry(who, "price.set", body.pool, detail)).set_price(
        _actor(who),
        body.pool,
        body.chip,
        body.fen_per_hour,
        epoch(body.effective_from, "effective_from"),
        body.currency,
    )


@router.get("/prices")
def list_prices(request: Request, _: Anyone) -> list[dict[str, Any]]:
    return _service(request).prices()


@router.post("/platform-fee")
def set_fee(body: FeeSet, request: Request, who: Operator) -> dict[str, Any]:
    detail = body.model_dump(mode="json")
    return _service(request, AuditEntry(who, "fee.set", "platform", detail)).set_fee(
        _actor(who), body.fee_bp, epoch(body.effective_from, "effective_from")
    )


@router.get("/platform-fee")
def get_fee(request: Request, _: Anyone) -> dict[str, Any]:
    return _service(request).fee()


@router.post("/vouchers/programs", status_code=201)
def create_program(body: ProgramCreate, request: Request, who: Operator) -> dict[str, Any]:
    entry = AuditEntry(who, "program.create", body.id, body.model_dump(mode="json"))
    return _service(request, entry).create_program(_actor(who), body.model_dump())


@router.get("/vouchers/programs")
def list_programs(request: Request, _: Operator) -> list[dict[str, Any]]:
    return _service(request).programs()


@router.post("/vouchers/grants", status_code=201)
def grant(body: GrantCreate, request: Request, who: Operator) -> dict[str, Any]:
    when = epoch(body.granted_at, "granted_at")
    entry = AuditEntry(who, "grant.create", body.program, body.model_dump(mode="json"))
    return _service(request, entry).grant(_actor(who), body.program, body.org, when)


@router.post("/orgs/{org}/topups", status_code=201)
def topup(org: str, body: TopUp, request: Request, who: Operator) -> dict[str, Any]:
    entry = AuditEntry(who, "topup", org, body.model_dump(mode="json"))
    return _service(request, entry).topup(
        _actor(who), org, body.amount_fen, body.currency, body.idempotency_key, body.note
    )


@router.post("/orgs/{org}/credit-line")
def credit_line(org: str, body: CreditLineSet, request: Request, who: Operator) -> dict[str, Any]:
    entry = AuditEntry(who, "credit_line.set", org, body.model_dump(mode="json"))
    return _service(request, entry).set_credit(
        _actor(who), org, body.limit_fen, body.currency, body.note
    )


@router.get("/settlements/{quarter}")
def settle(quarter: str, request: Request, _: Operator) -> dict[str, Any]:
    return _service(request).settle(quarter)


@router.get("/bills/{month}")
def bill(
    month: str, request: Request, who: Member, org: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    return _service(request).bill(who.caller, org, month)


@router.get("/balances")
def balances(
    request: Request, who: Member, org: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    return _service(request).balances(who.caller, org)


@router.post("/budgets")
def set_budget(body: BudgetSet, request: Request, who: Member) -> dict[str, Any]:
    entry = AuditEntry(who, "budget.set", body.org or (who.org_id or ""), body.model_dump())
    return _service(request, entry).set_budget(
        who.caller, body.org, body.monthly_fen, body.hard_stop, body.currency, _actor(who)
    )


@router.get("/budgets")
def get_budget(
    request: Request, who: Member, org: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    return _service(request).budget(who.caller, org)
