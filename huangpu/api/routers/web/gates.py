"""Who may see a page or post a form: each gate answers the signed-in caller, or the response
to send instead (the sign-in page, a redirect, or a 403 page)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from huangpu.api.routers.web.rendering import error_page, to_login
from huangpu.api.routers.web.sessions import Who, csrf_ok, read_form, who_from

Gate = Callable[[Request], "Who | Response"]


def tenant_gate(request: Request) -> Who | Response:
    who = who_from(request)
    if who is None:
        return to_login(request)
    if who.role == "operator":
        return RedirectResponse("/ops", status_code=303)
    if who.role != "tenant" or who.org_id is None:
        return error_page(request, 403, "forbidden", "the console needs a tenant token")
    return who


def viewer_gate(request: Request) -> Who | Response:
    """Tenants and operators: a job page. An agent's Caller has no org, which the job service
    would read as "every org", so agents are turned away here."""
    who = who_from(request)
    if who is None:
        return to_login(request)
    if who.role not in ("tenant", "operator"):
        return error_page(request, 403, "forbidden", "this page needs a tenant token")
    return who


def operator_gate(request: Request) -> Who | Response:
    who = who_from(request)
    if who is None:
        return to_login(request)
    if who.role != "operator":
        return error_page(
            request,
            403,
            "forbidden",
            f"the operator console needs an operator token; yours is a {who.role} token",
        )
    return who


async def checked_form(request: Request, gate: Gate) -> tuple[Who, dict[str, str]] | Response:
    """The gate, then the posted form, then its CSRF token: what every form action checks."""
    who = gate(request)
    if isinstance(who, Response):
        return who
    form = await read_form(request)
    if not csrf_ok(who, form):
        return error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
    return who, form


def stream_caller(request: Request) -> Who | Response:
    """Tenants and operators may open the job streams; anyone else gets a JSON 401."""
    who = who_from(request)
    if who is None or who.role not in ("tenant", "operator"):
        return unauthorized_json("sign in first")
    return who


def unauthorized_json(message: str) -> Response:
    return Response(
        f'{{"error":{{"code":"unauthorized","message":"{message}","field":null}}}}',
        status_code=401,
        media_type="application/json",
    )
