"""The operator console (/ops): the city's suppliers, pools, agents, orgs, tokens, prices
and voucher programs, and the forms that change them; every change writes an audit row."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from huangpu.api.routers.web.gates import checked_form, operator_gate
from huangpu.api.routers.web.ledger_panels import call_as, ledger_panel, ledger_route
from huangpu.api.routers.web.rendering import error_page, render
from huangpu.api.routers.web.sessions import Who
from huangpu.core.domain import ExecutorKind, OrgCategory, Role
from huangpu.core.errors import HuangpuError, InvalidInput, NotFound
from huangpu.store import dashboard, registry
from huangpu.store.models import OrgRow, SupplierRow, TokenRow

router = APIRouter()


async def _ops_page(request: Request, who: Who, status: int = 200, **extra: Any) -> Response:
    platform = request.app.state.platform
    now = platform.clock.now()

    def load() -> dict[str, Any]:
        with platform.db.read() as session:
            counts = dashboard.device_counts(session)
            cap: dict[str, dict[str, list[int]]] = {}
            for pool_id, chip, total, in_use in counts:
                cap.setdefault(pool_id, {})[chip] = [in_use, total]
            pool_names = {p.id: p.name for p in dashboard.pools(session)}
            orgs = {o.id: o.name for o in registry.list_rows(session, OrgRow)}
            return {
                "suppliers": list(registry.list_rows(session, SupplierRow)),
                "pools": dashboard.pools(session),
                "capacity": cap,
                "agents": [
                    {
                        "name": a.name,
                        "pool": pool_names.get(a.pool_id, a.pool_id),
                        "executor": a.executor,
                        "last_seen": a.last_seen,
                        "age": now - a.last_seen,
                        "online": now - a.last_seen <= platform.settings.lease_seconds,
                    }
                    for a in dashboard.agents(session)
                ],
                "orgs": list(registry.list_rows(session, OrgRow)),
                "org_names": orgs,
                "pool_names": pool_names,
                "tokens": list(registry.list_rows(session, TokenRow)),
                "audit": list(dashboard.audit_rows(session, 100)),
            }

    data = await run_in_threadpool(load)
    ledger = {panel: await ledger_panel(request, who, panel) for panel in ("prices", "programs")}
    programs_post = ledger_route(request, "programs", "POST")
    context: dict[str, Any] = {
        "who": who,
        "now": now,
        "ledger": ledger,
        "programs_post": programs_post,
        "categories": [c.value for c in OrgCategory],
        "roles": [r.value for r in Role],
        "executors": [e.value for e in ExecutorKind],
        "error": None,
        "new_token": None,
        **data,
    }
    context.update(extra)
    return render(request, "ops.html", status=status, **context)


@router.get("/ops", include_in_schema=False)
async def ops(request: Request) -> Response:
    who = operator_gate(request)
    if isinstance(who, Response):
        return who
    return await _ops_page(request, who)


def _require(form: dict[str, str], key: str) -> str:
    value = form.get(key, "").strip()
    if not value:
        raise InvalidInput(f"{key}: this field is required", key)
    return value


@router.post("/ops/{noun}", include_in_schema=False)
async def ops_create(noun: str, request: Request) -> Response:
    """Create an org, supplier, pool or token from the console; each writes an audit row in
    the same transaction as the change."""
    checked = await checked_form(request, operator_gate)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    platform = request.app.state.platform
    now = platform.clock.now()

    def write() -> dict[str, Any]:
        detail: dict[str, Any]
        out: dict[str, Any]
        with platform.db.write() as session:
            if noun == "orgs":
                name = _require(form, "name")
                category = form.get("category") or "company"
                if category not in {c.value for c in OrgCategory}:
                    raise InvalidInput("category: must be startup, lab or company", "category")
                row = registry.create_org(session, name, category, now)
                target, detail, out = row.id, {"name": name, "category": category}, {}
            elif noun == "suppliers":
                name = _require(form, "name")
                sup = registry.create_supplier(session, name, now)
                target, detail, out = sup.id, {"name": name}, {}
            elif noun == "pools":
                name = _require(form, "name")
                executor = form.get("executor") or "local"
                if executor not in {e.value for e in ExecutorKind}:
                    raise InvalidInput("executor: unknown executor", "executor")
                pool = registry.create_pool(
                    session,
                    name,
                    _require(form, "supplier"),
                    _require(form, "region"),
                    executor,
                    now,
                )
                target, detail, out = pool.id, {"name": name, "supplier": form["supplier"]}, {}
            elif noun == "tokens":
                role = _require(form, "role")
                if role not in {r.value for r in Role}:
                    raise InvalidInput("role: must be operator, tenant or agent", "role")
                org_id = registry.org(session, form["org"]).id if form.get("org") else None
                pool_id = registry.pool(session, form["pool"]).id if form.get("pool") else None
                issued = registry.create_token(
                    session, role, org_id, pool_id, form.get("name", "")[:64], now
                )
                target = issued.row.id
                detail = {"role": role, "org_id": org_id, "pool_id": pool_id}
                out = {"new_token": {"id": issued.row.id, "secret": issued.secret, "role": role}}
            else:
                raise NotFound(f"no console action {noun!r}", None)
            action = f"{noun.removesuffix('s')}.create"
            dashboard.audit(session, now, who.token_id, who.role, action, target, detail)
            return out

    try:
        out = await run_in_threadpool(write)
    except HuangpuError as error:
        return await _ops_page(
            request,
            who,
            status=error.http_status,
            error={"form": noun, "field": error.field, "message": error.message},
        )
    if out.get("new_token"):
        return await _ops_page(request, who, status=201, **out)
    return RedirectResponse("/ops", status_code=303)


@router.post("/ops/tokens/{token_id}/revoke", include_in_schema=False)
async def ops_revoke(token_id: str, request: Request) -> Response:
    checked = await checked_form(request, operator_gate)
    if isinstance(checked, Response):
        return checked
    who, _ = checked
    platform = request.app.state.platform
    now = platform.clock.now()

    def write() -> None:
        with platform.db.write() as session:
            registry.revoke_token(session, token_id, now)
            dashboard.audit(session, now, who.token_id, who.role, "token.revoke", token_id)

    try:
        await run_in_threadpool(write)
    except HuangpuError as error:
        return error_page(request, error.http_status, "error", error.message)
    return RedirectResponse("/ops", status_code=303)


@router.post("/ops/ledger/programs", include_in_schema=False)
async def ops_program(request: Request) -> Response:
    """Create a voucher program by posting JSON to the ledger's own route (when it exists)."""
    checked = await checked_form(request, operator_gate)
    if isinstance(checked, Response):
        return checked
    who, form = checked
    path = ledger_route(request, "programs", "POST")
    if path is None:
        return error_page(request, 404, "not_found", "the ledger API is not available yet")
    try:
        body = json.loads(form.get("body", ""))
    except json.JSONDecodeError as error:
        return await _ops_page(
            request,
            who,
            status=422,
            error={"form": "programs", "field": "body", "message": f"not JSON: {error}"},
        )
    r = await call_as(request, who, "POST", path, json=body)
    if r.status_code >= 400:
        err = r.json().get("error", {}) if "json" in r.headers.get("content-type", "") else {}
        return await _ops_page(
            request,
            who,
            status=r.status_code,
            error={
                "form": "programs",
                "field": err.get("field"),
                "message": err.get("message", r.text[:300]),
            },
        )
    # The ledger route wrote the "program.create" audit row in its own transaction.
    return RedirectResponse("/ops", status_code=303)
