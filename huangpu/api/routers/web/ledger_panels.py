"""The ledger panels of the consoles, consumed through the ledger's own API in-process, so
auth and org scoping stay the ledger's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import Request

from huangpu.api.routers.web.sessions import Who


async def call_as(request: Request, who: Who, method: str, path: str, **kw: Any) -> httpx.Response:
    """One call to this very app as the signed-in caller (their token, never a cookie)."""
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.internal") as client:
        return await client.request(
            method, path, headers={"authorization": f"Bearer {who.secret}"}, **kw
        )


# The ledger's own routes (huangpu.api.routers.ledger); a panel whose route is missing says
# "not available" instead of failing, so the consoles run with or without the ledger.
LEDGER_PATHS: dict[str, str] = {
    "bill": "/v1/bills/{month}",
    "vouchers": "/v1/balances",
    "budgets": "/v1/budgets",
    "prices": "/v1/prices",
    "programs": "/v1/vouchers/programs",
}


def ledger_route(request: Request, panel: str, method: str = "GET") -> str | None:
    # The OpenAPI document is FastAPI's public (and cached) list of routes and methods.
    path = LEDGER_PATHS[panel]
    operations = request.app.openapi().get("paths", {}).get(path, {})
    return path if method.lower() in operations else None


async def ledger_panel(request: Request, who: Who, panel: str, **params: str) -> dict[str, Any]:
    """One ledger panel: {"available": False} until the ledger's route exists; otherwise its
    JSON, fetched in-process through the API itself so auth and org scoping stay the ledger's."""
    path = ledger_route(request, panel)
    if path is None:
        return {"available": False}
    month = datetime.fromtimestamp(request.app.state.platform.clock.now()).strftime("%Y-%m")
    r = await call_as(request, who, "GET", path.format(month=month), params=params)
    if r.status_code >= 400:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:300]
        return {"available": True, "path": path, "error": message}
    return {"available": True, "path": path, "data": r.json()}
