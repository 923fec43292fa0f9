"""Operator routes: orgs, suppliers, pools and tokens. Every change writes an audit_log row
in the same transaction as the change itself, so the log can never miss or invent one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from huangpu.api.auth import Principal, require
from huangpu.api.schemas import OrgCreate, PoolCreate, SupplierCreate, TokenCreate
from huangpu.store import dashboard, registry
from huangpu.store.models import OrgRow, SupplierRow, TokenRow

router = APIRouter(prefix="/v1")
Operator = Annotated[Principal, Depends(require("operator"))]


def _org(row: OrgRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "category": row.category, "created_at": row.created_at}


def _supplier(row: SupplierRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at}


def _token(row: TokenRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "role": row.role,
        "org_id": row.org_id,
        "pool_id": row.pool_id,
        "name": row.name,
        "created_at": row.created_at,
        "revoked": row.revoked_at is not None,
        "expires_at": row.expires_at,
    }


@router.post("/orgs", status_code=201)
def create_org(body: OrgCreate, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    with p.db.write() as session:
        row = registry.create_org(session, body.name, body.category.value, now)
        detail = {"name": body.name, "category": body.category.value}
        dashboard.audit(session, now, who.token_id, who.role, "org.create", row.id, detail)
        return _org(row)


@router.get("/orgs")
def list_orgs(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        return [_org(r) for r in registry.list_rows(session, OrgRow)]


@router.post("/suppliers", status_code=201)
def create_supplier(body: SupplierCreate, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    with p.db.write() as session:
        row = registry.create_supplier(session, body.name, now)
        detail = {"name": body.name}
        dashboard.audit(session, now, who.token_id, who.role, "supplier.create", row.id, detail)
        return _supplier(row)


@router.get("/suppliers")
def list_suppliers(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        rows = registry.list_rows(session, SupplierRow)
        return [_supplier(r) for r in rows]


@router.post("/pools", status_code=201)
def create_pool(body: PoolCreate, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    with p.db.write() as session:
        row = registry.create_pool(
            session,
            body.name,
            body.supplier,
            body.region,
            body.executor.value,
            now,
            body.engine_backlog,
        )
        detail = {"name": body.name, "supplier": body.supplier, "region": body.region}
        dashboard.audit(session, now, who.token_id, who.role, "pool.create", row.id, detail)
        return {
            "id": row.id,
            "name": row.name,
            "supplier_id": row.supplier_id,
            "region": row.region,
            "executor": row.executor,
            "engine_backlog": row.engine_backlog,
        }


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    expires_at = None if body.ttl_seconds is None else now + body.ttl_seconds
    with p.db.write() as session:
        org_id = registry.org(session, body.org).id if body.org else None
        pool_id = registry.pool(session, body.pool).id if body.pool else None
        issued = registry.create_token(
            session, body.role.value, org_id, pool_id, body.name, now, expires_at
        )
        detail = {
            "role": body.role.value,
            "org_id": org_id,
            "pool_id": pool_id,
            "expires_at": expires_at,
        }
        dashboard.audit(session, now, who.token_id, who.role, "token.create", issued.row.id, detail)
        return {**_token(issued.row), "token": issued.secret}


@router.get("/tokens")
def list_tokens(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        return [_token(r) for r in registry.list_rows(session, TokenRow)]


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, request: Request, who: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    now = p.clock.now()
    with p.db.write() as session:
        view = _token(registry.revoke_token(session, token_id, now))
        dashboard.audit(session, now, who.token_id, who.role, "token.revoke", token_id)
    p.tokens.forget(token_id)  # at once in this process; other replicas within the cache TTL
    return view
