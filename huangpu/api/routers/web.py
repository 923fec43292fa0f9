"""The web: the wall screen (/wall), the tenant console (/console), the operator console (/ops),
their static assets, and the server-sent event streams behind them (/v1/stream/...).

Pages sign in with a token once and then ride a server-side session: the cookie holds only a
random session id (HttpOnly, SameSite=Strict), every form carries that session's CSRF token,
and the session is re-checked against the token table on each request, so revoking the token
ends the session. Every page and stream is scoped like the JSON API: tenants see their org.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import jinja2
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from huangpu.api.wall import hub_for, local_midnight, stop_hub
from huangpu.control.job_service import Caller
from huangpu.core.domain import ExecutorKind, OrgCategory, Role
from huangpu.core.errors import HuangpuError, InvalidInput, NotFound
from huangpu.core.jobspec import JobKind, jobspec_from_dict, parse_jobspec_yaml
from huangpu.core.states import JobState
from huangpu.store import dashboard, registry
from huangpu.store.models import OrgRow, SupplierRow, TokenRow
from huangpu.web import STATIC, TEMPLATES
from huangpu.web.i18n import FAMILY_NAMES, LANGS, pick_lang, translator

SESSION_COOKIE = "hp_session"
LOGIN_CSRF_COOKIE = "hp_login_csrf"
LANG_COOKIE = "hp_lang"
SESSION_SECONDS = 12 * 3600.0
STREAM_TICK = 0.25  # how often a stream looks for a newer snapshot: well inside the 2 s budget
KEEPALIVE = 15.0


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The sampler must run while nobody watches, or the 24 h chart would have holes.
    hub_for(app)
    try:
        yield
    finally:
        stop_hub(app)


router = APIRouter(lifespan=_lifespan)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,  # a job named <script> renders as text, everywhere
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


_env.filters["ts"] = _fmt_time


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class WebSession:
    sid: str
    token_id: str
    secret: str  # kept in server memory only, to call the ledger API on the user's behalf
    role: str
    org_id: str | None
    csrf: str
    expires: float


@dataclass
class Who:
    token_id: str
    role: str
    org_id: str | None
    secret: str
    csrf: str | None  # None when the request came with a bearer header (no cookie, no CSRF)

    @property
    def caller(self) -> Caller:
        return Caller(self.role, self.org_id)


@dataclass
class SessionStore:
    sessions: dict[str, WebSession] = field(default_factory=dict)

    def create(self, token: TokenRow, secret: str) -> WebSession:
        now = time.time()
        for sid in [s for s, v in self.sessions.items() if v.expires < now]:
            del self.sessions[sid]
        sess = WebSession(
            sid=secrets.token_urlsafe(32),
            token_id=token.id,
            secret=secret,
            role=token.role,
            org_id=token.org_id,
            csrf=secrets.token_urlsafe(32),
            expires=now + SESSION_SECONDS,
        )
        self.sessions[sess.sid] = sess
        return sess


def _store(request: Request) -> SessionStore:
    store: SessionStore | None = getattr(request.app.state, "web_sessions", None)
    if store is None:
        store = SessionStore()
        request.app.state.web_sessions = store
    return store


def _who(request: Request) -> Who | None:
    """The signed-in caller from the session cookie, or from a bearer header; None if neither."""
    platform = request.app.state.platform
    header = request.headers.get("authorization", "")
    scheme, _, bearer = header.partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        with platform.db.read() as session:
            row = registry.find_token(session, bearer.strip(), platform.clock.now())
            if row is None:
                return None
            return Who(row.id, row.role, row.org_id, bearer.strip(), None)
    sid = request.cookies.get(SESSION_COOKIE)
    sess = _store(request).sessions.get(sid or "")
    if sess is None or sess.expires < time.time():
        return None
    with platform.db.read() as session:
        row = session.get(TokenRow, sess.token_id)
        live = row is not None and row.revoked_at is None
        if row is not None and row.expires_at is not None:
            live = live and row.expires_at > platform.clock.now()  # tokens may expire (0004)
        if not live:
            _store(request).sessions.pop(sess.sid, None)
            return None
    return Who(sess.token_id, sess.role, sess.org_id, sess.secret, sess.csrf)


async def _form(request: Request) -> dict[str, str]:
    # URL-encoded forms only: parsed here so the server needs no multipart dependency.
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _csrf_ok(who: Who, form: dict[str, str]) -> bool:
    if who.csrf is None:
        return True  # bearer header: a browser never attaches it on its own
    return secrets.compare_digest(form.get("csrf", ""), who.csrf)


# --- rendering --------------------------------------------------------------------------------


def _lang(request: Request) -> str:
    return pick_lang(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    html = _env.get_template(template).render(
        t=translator(lang),
        lang=lang,
        other_lang="en" if lang == "zh-CN" else "zh-CN",
        families=FAMILY_NAMES[lang],
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    # Pages are never framed (clickjacking) and load scripts only from this server.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _error_page(request: Request, status: int, title_key: str, message: str) -> HTMLResponse:
    return _render(request, "error.html", status=status, title_key=title_key, message=message)


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# --- static assets ----------------------------------------------------------------------------


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str) -> Response:
    root = STATIC.resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        return Response("not found", status_code=404)
    # Vendored files live in versioned folders, so browsers may keep them for good.
    cache = (
        "public, max-age=31536000, immutable"
        if "vendor" in Path(path).parts
        else "public, max-age=60"
    )
    return FileResponse(target, headers={"Cache-Control": cache})


# --- the wall ---------------------------------------------------------------------------------


def _wall_allowed(request: Request) -> bool:
    if request.app.state.platform.settings.wall_public:
        return True
    who = _who(request)
    return who is not None and who.role == "operator"


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/wall", status_code=307)


@router.get("/wall", include_in_schema=False)
async def wall(request: Request) -> Response:
    if not _wall_allowed(request):
        return _to_login(request)
    hub = hub_for(request.app)
    snapshot = await run_in_threadpool(hub.current)
    return _render(
        request,
        "wall.html",
        snapshot=snapshot,
        strings={k: translator(k) for k in LANGS},
        family_names=FAMILY_NAMES,
    )


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/v1/stream/wall")
async def stream_wall(request: Request) -> Response:
    """The wall's snapshot as server-sent events: one `snapshot` event whenever it changes
    (checked four times a second against the shared, once-a-second snapshot), and a `series`
    event when the 24 h chart gains a point."""
    if not _wall_allowed(request):
        return Response(
            '{"error":{"code":"unauthorized","message":"the wall is not public here; '
            'sign in with an operator token","field":null}}',
            status_code=401,
            media_type="application/json",
        )
    hub = hub_for(request.app)

    async def events() -> AsyncIterator[str]:
        hub.subscribers += 1
        try:
            yield "retry: 1000\n\n"
            sent_version = -1
            sent_series: object = None
            last_write = time.monotonic()
            while not await request.is_disconnected():
                snap = hub.snapshot or await run_in_threadpool(hub.current)
                if snap.get("version") != sent_version:
                    sent_version = snap.get("version", 0)
                    series = snap.get("series")
                    if series is not sent_series:
                        sent_series = series
                        yield _sse("series", series)
                    yield _sse(
                        "snapshot",
                        {k: v for k, v in snap.items() if k != "series"},
                        sent_version,
                    )
                    last_write = time.monotonic()
                elif time.monotonic() - last_write > KEEPALIVE:
                    yield ": keepalive\n\n"
                    last_write = time.monotonic()
                await asyncio.sleep(STREAM_TICK)
        finally:
            hub.subscribers -= 1

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


# --- sign in ----------------------------------------------------------------------------------


def _safe_next(target: str | None, default: str) -> str:
    # Only same-site paths: an open redirect would let a link send a user anywhere.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return default


@router.get("/login", include_in_schema=False)
def login_page(request: Request) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _render(
        request, "login.html", csrf=token, next=request.query_params.get("next", ""), error=None
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await _form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(form.get("csrf", ""), cookie):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the sign-in page")
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
        return _render(
            request,
            "login.html",
            status=401,
            csrf=cookie,
            next=form.get("next", ""),
            error=error,
        )
    sess = _store(request).create(row, secret)
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
    who = _who(request)
    form = await _form(request)
    if who is not None and _csrf_ok(who, form):
        _store(request).sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- ledger (consumed through its own API, when it exists) ------------------------------------

# The ledger's own routes (huangpu.api.routers.ledger); a panel whose route is missing says
# "not available" instead of failing, so the consoles run with or without the ledger.
LEDGER_PATHS: dict[str, str] = {
    "bill": "/v1/bills/{month}",
    "vouchers": "/v1/balances",
    "budgets": "/v1/budgets",
    "prices": "/v1/prices",
    "programs": "/v1/vouchers/programs",
}


def _ledger_route(request: Request, panel: str, method: str = "GET") -> str | None:
    # The OpenAPI document is FastAPI's public (and cached) list of routes and methods.
    path = LEDGER_PATHS[panel]
    operations = request.app.openapi().get("paths", {}).get(path, {})
    return path if method.lower() in operations else None


async def _ledger(request: Request, who: Who, panel: str, **params: str) -> dict[str, Any]:
    """One ledger panel: {"available": False} until the ledger's route exists; otherwise its
    JSON, fetched in-process through the API itself so auth and org scoping stay the ledger's."""
    path = _ledger_route(request, panel)
    if path is None:
        return {"available": False}
    month = datetime.fromtimestamp(request.app.state.platform.clock.now()).strftime("%Y-%m")
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.internal") as client:
        r = await client.get(
            path.format(month=month),
            params=params,
            headers={"authorization": f"Bearer {who.secret}"},
        )
    if r.status_code >= 400:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:300]
        return {"available": True, "path": path, "error": message}
    return {"available": True, "path": path, "data": r.json()}


# --- tenant console ---------------------------------------------------------------------------

FORM_FIELDS = {
    "name": "name",
    "kind": "kind",
    "command": "command",
    "resources.chips": "chips",
    "resources.accelerators": "accelerators",
    "resources.nodes": "nodes",
    "workdir": "workdir",
    "priority": "priority",
}


def _form_spec(form: dict[str, str]) -> dict[str, Any]:
    """The job spec a console form describes; values stay strings so the JobSpec model does the
    same coercion and gives the same messages as the JSON API."""
    resources: dict[str, Any] = {}
    chips = [c.strip() for c in form.get("chips", "").split(",") if c.strip()]
    if chips:
        resources["chips"] = chips
    for key in ("accelerators", "nodes"):
        if form.get(key, "").strip():
            resources[key] = form[key].strip()
    spec: dict[str, Any] = {"name": form.get("name", ""), "command": form.get("command", "")}
    if form.get("kind"):
        spec["kind"] = form["kind"]
    for key in ("workdir", "priority"):
        if form.get(key, "").strip():
            spec[key] = form[key].strip()
    if resources:
        spec["resources"] = resources
    return spec


def _input_for(field_path: str | None) -> str | None:
    if not field_path:
        return None
    for prefix, name in FORM_FIELDS.items():
        if field_path == prefix or field_path.startswith(prefix + "["):
            return name
    return None


def _job_list(request: Request, who: Who, state: str | None, q: str) -> list[dict[str, Any]]:
    try:
        wanted = JobState(state) if state else None
    except ValueError:
        wanted = None
    jobs: list[dict[str, Any]] = request.app.state.platform.jobs.list(who.caller, wanted, None, 200)
    if q:
        jobs = [j for j in jobs if q.lower() in j["name"].lower()]
    return jobs


async def _console(request: Request, who: Who, status: int = 200, **extra: Any) -> HTMLResponse:
    platform = request.app.state.platform
    state = request.query_params.get("state") or None
    q = request.query_params.get("q", "")
    now = platform.clock.now()
    month = datetime.fromtimestamp(now).replace(day=1).timestamp()
    month = local_midnight(month)

    def load() -> dict[str, Any]:
        assert who.org_id is not None
        with platform.db.read() as session:
            org = session.get(OrgRow, who.org_id)
            usage = dashboard.org_usage(session, who.org_id, month, now + 1)
            counts = dashboard.job_state_counts(session, who.org_id)
        return {
            "org": org.name if org else who.org_id,
            "usage": usage,
            "counts": counts,
            "jobs": _job_list(request, who, state, q),
        }

    data = await run_in_threadpool(load)
    ledger = {
        panel: await _ledger(request, who, panel) for panel in ("bill", "vouchers", "budgets")
    }
    context: dict[str, Any] = {
        "who": who,
        "states": [s.value for s in JobState],
        "kinds": [k.value for k in JobKind],
        "state": state or "",
        "q": q,
        "ledger": ledger,
        "values": {"kind": "train", "chips": "any", "accelerators": "1", "nodes": "1"},
        "error": None,
        "mode": "form",
        "yaml_text": "",
        **data,
    }
    context.update(extra)
    return _render(request, "console.html", status=status, **context)


def _tenant(request: Request) -> Who | Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    if who.role == "operator":
        return RedirectResponse("/ops", status_code=303)
    if who.role != "tenant" or who.org_id is None:
        return _error_page(request, 403, "forbidden", "the console needs a tenant token")
    return who


@router.get("/console", include_in_schema=False)
async def console(request: Request) -> Response:
    who = _tenant(request)
    if isinstance(who, Response):
        return who
    return await _console(request, who)


@router.post("/console/jobs", include_in_schema=False)
async def console_submit(request: Request) -> Response:
    who = _tenant(request)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    if not _csrf_ok(who, form):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
    mode = "yaml" if form.get("mode") == "yaml" else "form"
    platform = request.app.state.platform
    try:
        if mode == "yaml":
            spec = parse_jobspec_yaml(form.get("yaml", ""))
        else:
            spec = jobspec_from_dict(_form_spec(form))
        view = await run_in_threadpool(platform.jobs.submit, who.caller, spec, None)
    except HuangpuError as error:
        return await _console(
            request,
            who,
            status=error.http_status,
            error={
                "field": error.field,
                "message": error.message,
                "input": _input_for(error.field) if mode == "form" else "yaml",
                "code": error.code,
            },
            values={k: form.get(k, "") for k in FORM_FIELDS.values()},
            mode=mode,
            yaml_text=form.get("yaml", ""),
        )
    return RedirectResponse(f"/console/jobs/{view['id']}", status_code=303)


@router.get("/console/jobs/{job_id}", include_in_schema=False)
async def console_job(job_id: str, request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    if who.role not in ("tenant", "operator"):
        return _error_page(request, 403, "forbidden", "this page needs a tenant token")
    platform = request.app.state.platform
    try:
        job = await run_in_threadpool(platform.jobs.get, who.caller, job_id)
        logs = await run_in_threadpool(platform.jobs.logs, who.caller, job_id, 0)
    except NotFound as error:
        # The same answer for "not yours" and "no such job": existence is not leaked.
        return _error_page(request, 404, "not_found", error.message)
    return _render(request, "job.html", who=who, job=job, logs=logs)


@router.post("/console/jobs/{job_id}/cancel", include_in_schema=False)
async def console_cancel(job_id: str, request: Request) -> Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    if who.role not in ("tenant", "operator"):
        # An agent's Caller has no org, which the job service would read as "every org".
        return _error_page(request, 403, "forbidden", "this page needs a tenant token")
    form = await _form(request)
    if not _csrf_ok(who, form):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
    try:
        await run_in_threadpool(request.app.state.platform.jobs.cancel, who.caller, job_id)
    except NotFound as error:
        return _error_page(request, 404, "not_found", error.message)
    except HuangpuError as error:
        return _error_page(request, error.http_status, "error", error.message)
    return RedirectResponse(f"/console/jobs/{job_id}", status_code=303)


def _lite(job: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "kind", "state", "pool", "reason", "exit_code", "updated_at")
    return {k: job.get(k) for k in keys}


@router.get("/v1/stream/jobs")
async def stream_jobs(request: Request) -> Response:
    """The caller's newest jobs (50; a tenant's own org only) as a `jobs` event whenever any of
    them changes. Cookie session or bearer token."""
    who = _who(request)
    if who is None or who.role not in ("tenant", "operator"):
        return Response(
            '{"error":{"code":"unauthorized","message":"sign in first","field":null}}',
            status_code=401,
            media_type="application/json",
        )
    jobs = request.app.state.platform.jobs

    async def events() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        sent = ""
        while not await request.is_disconnected():
            rows = await run_in_threadpool(jobs.list, who.caller, None, None, 50)
            body = json.dumps([_lite(j) for j in rows], separators=(",", ":"))
            if body != sent:
                sent = body
                yield f"event: jobs\ndata: {body}\n\n"
            await asyncio.sleep(1.0)

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get("/v1/stream/jobs/{job_id}")
async def stream_job(job_id: str, request: Request) -> Response:
    """One job: a `job` event (state, reason, history) on every change and `log` events with
    new log text. A job of another org answers 404, as the JSON API does."""
    who = _who(request)
    if who is None or who.role not in ("tenant", "operator"):
        return Response(
            '{"error":{"code":"unauthorized","message":"sign in first","field":null}}',
            status_code=401,
            media_type="application/json",
        )
    service = request.app.state.platform.jobs
    try:
        await run_in_threadpool(service.get, who.caller, job_id)
    except NotFound as error:
        body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
        return Response(json.dumps(body), status_code=404, media_type="application/json")
    raw_offset = request.query_params.get("offset", "0") or "0"
    if not raw_offset.isdigit():  # a bad offset is bad input, never a 500
        body = {
            "error": {
                "code": "invalid_input",
                "message": "offset: not a whole number >= 0",
                "field": "offset",
            }
        }
        return Response(json.dumps(body), status_code=422, media_type="application/json")
    offset = int(raw_offset)

    async def events() -> AsyncIterator[str]:
        nonlocal offset
        yield "retry: 1000\n\n"
        sent = ""
        while not await request.is_disconnected():
            job = await run_in_threadpool(service.get, who.caller, job_id)
            lite = {**_lite(job), "history": job["history"]}
            body = json.dumps(lite, separators=(",", ":"))
            if body != sent:
                sent = body
                yield f"event: job\ndata: {body}\n\n"
            page = await run_in_threadpool(service.logs, who.caller, job_id, offset)
            if page["data"]:
                offset = page["next_offset"]
                yield _sse("log", {"data": page["data"], "next_offset": offset})
            if page["complete"]:
                yield _sse("end", {"state": job["state"]})
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


# --- operator console -------------------------------------------------------------------------


def _operator(request: Request) -> Who | Response:
    who = _who(request)
    if who is None:
        return _to_login(request)
    if who.role != "operator":
        return _error_page(
            request,
            403,
            "forbidden",
            f"the operator console needs an operator token; yours is a {who.role} token",
        )
    return who


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
    ledger = {panel: await _ledger(request, who, panel) for panel in ("prices", "programs")}
    programs_post = _ledger_route(request, "programs", "POST")
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
    return _render(request, "ops.html", status=status, **context)


@router.get("/ops", include_in_schema=False)
async def ops(request: Request) -> Response:
    who = _operator(request)
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
    who = _operator(request)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    if not _csrf_ok(who, form):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
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
    who = _operator(request)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    if not _csrf_ok(who, form):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
    platform = request.app.state.platform
    now = platform.clock.now()

    def write() -> None:
        with platform.db.write() as session:
            registry.revoke_token(session, token_id, now)
            dashboard.audit(session, now, who.token_id, who.role, "token.revoke", token_id)

    try:
        await run_in_threadpool(write)
    except HuangpuError as error:
        return _error_page(request, error.http_status, "error", error.message)
    return RedirectResponse("/ops", status_code=303)


@router.post("/ops/ledger/programs", include_in_schema=False)
async def ops_program(request: Request) -> Response:
    """Create a voucher program by posting JSON to the ledger's own route (when it exists)."""
    who = _operator(request)
    if isinstance(who, Response):
        return who
    form = await _form(request)
    if not _csrf_ok(who, form):
        return _error_page(request, 403, "forbidden", "CSRF check failed; reload the page")
    path = _ledger_route(request, "programs", "POST")
    if path is None:
        return _error_page(request, 404, "not_found", "the ledger API is not available yet")
    try:
        body = json.loads(form.get("body", ""))
    except json.JSONDecodeError as error:
        return await _ops_page(
            request,
            who,
            status=422,
            error={"form": "programs", "field": "body", "message": f"not JSON: {error}"},
        )
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://web.internal") as client:
        r = await client.post(path, json=body, headers={"authorization": f"Bearer {who.secret}"})
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
