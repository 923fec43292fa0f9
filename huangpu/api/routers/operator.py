"""Operator routes: orgs, suppliers, pools and tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from huangpu.api.auth import Principal, require
from huangpu.api.schemas import OrgCreate, PoolCreate, SupplierCreate, TokenCreate
from huangpu.store import registry
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
    }


@router.post("/orgs", status_code=201)
def create_org(body: OrgCreate, request: Request, _: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    with p.db.write() as session:
        return _org(registry.create_org(session, body.name, body.category.value, p.clock.now()))


@router.get("/orgs")
def list_orgs(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        return [_org(r) for r in registry.list_rows(session, OrgRow)]


@router.post("/suppliers", status_code=201)
def create_supplier(body: SupplierCreate, request: Request, _: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    with p.db.write() as session:
        return _supplier(registry.create_supplier(session, body.name, p.clock.now()))


@router.get("/suppliers")
def list_suppliers(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        rows = registry.list_rows(session, SupplierRow)
        return [_supplier(r) for r in rows]


@router.post("/pools", status_code=201)
def create_pool(body: PoolCreate, request: Request, _: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    with p.db.write() as session:
        row = registry.create_pool(
            session, body.name, body.supplier, body.region, body.executor.value, p.clock.now()
        )
        return {
            "id": row.id,
            "name": row.name,
            "supplier_id": row.supplier_id,
            "region": row.region,
            "executor": row.executor,
        }


@router.post("/tokens", status_code=201)
def create_token(body: TokenCreate, request: Request, _: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    with p.db.write() as session:
        org_id = registry.org(session, body.org).id if body.org else None
        pool_id = registry.pool(session, body.pool).id if body.pool else None
        issued = registry.create_token(
            session, body.role.value, org_id, pool_id, body.name, p.clock.now()
        )
        return {**_token(issued.row), "token": issued.secret}


@router.get("/tokens")
def list_tokens(request: Request, _: Operator) -> list[dict[str, Any]]:
    with request.app.state.platform.db.read() as session:
        return [_token(r) for r in registry.list_rows(session, TokenRow)]


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, request: Request, _: Operator) -> dict[str, Any]:
    p = request.app.state.platform
    with p.db.write() as session:
        view = _token(registry.revoke_token(session, token_id, p.clock.now()))
    p.tokens.forget(token_id)
    return view
