"""Signing in with a token (once) and out; the session cookie is set here."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from huangpu.api.routers.web.rendering import error_page, render
from huangpu.api.routers.web.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    csrf_ok,
    read_form,
    session_store,
    who_from,
)
from huangpu.store import registry
from huangpu.store.models import TokenRow

router = APIRouter()


def _safe_next(target: str | None, default: str) -> str:
    # Only same-site paths: an open redirect would let a link send a user anywhere.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return default


@router.get("/login", include_in_schema=False)
def login_page(request: Request) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "login.html", csrf=token, next=request.query_params.get("next", ""), error=None
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await read_form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(form.get("csrf", ""), cookie):
        return error_page(request, 403, "forbidden", "CSRF check failed; reload the sign-in page")
    secret = form.get("token", "").strip()
    platform = request.app.state.platform

    def check() -> TokenRow | None:
        with platform.db.read() as session:
            return registry.find_token(session, secret, platform.clock.now()) if secret else None

    row = await run_in_threadpool(check)
    error = None
    if row is None:
        error = "unknown or revoked token; ask an operator for a new one"
    elif row.role == "agent":
        error = "agent tokens cannot sign in; use a tenant or operator token"
    if row is None or error:
        return render(
            request,
            "login.html",
            status=401,
            csrf=cookie,
            next=form.get("next", ""),
            error=error,
        )
    sess = session_store(request).create(row, secret)
    home = "/ops" if row.role == "operator" else "/console"
    response = RedirectResponse(_safe_next(form.get("next"), home), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sess.sid,
        max_age=int(SESSION_SECONDS),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    who = who_from(request)
    form = await read_form(request)
    if who is not None and csrf_ok(who, form):
        session_store(request).sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
