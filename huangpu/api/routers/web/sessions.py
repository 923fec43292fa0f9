"""Web sessions: the cookie holds only a random session id (HttpOnly, SameSite=Strict), the
secret stays in server memory, and every request re-checks the token table, so revoking the
token ends the session. Bearer headers work too (no cookie, so no CSRF to check)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import Request

from huangpu.control.job_service import Caller
from huangpu.store import registry
from huangpu.store.models import TokenRow

SESSION_COOKIE = "hp_session"
LOGIN_CSRF_COOKIE = "hp_login_csrf"
SESSION_SECONDS = 12 * 3600.0


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


def session_store(request: Request) -> SessionStore:
    store: SessionStore | None = getattr(request.app.state, "web_sessions", None)
    if store is None:
        store = SessionStore()
        request.app.state.web_sessions = store
    return store


def who_from(request: Request) -> Who | None:
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
    sess = session_store(request).sessions.get(sid or "")
    if sess is None or sess.expires < time.time():
        return None
    with platform.db.read() as session:
        row = session.get(TokenRow, sess.token_id)
        live = row is not None and row.revoked_at is None
        if row is not None and row.expires_at is not None:
            live = live and row.expires_at > platform.clock.now()  # tokens may expire (0004)
        if not live:
            session_store(request).sessions.pop(sess.sid, None)
            return None
    return Who(sess.token_id, sess.role, sess.org_id, sess.secret, sess.csrf)


async def read_form(request: Request) -> dict[str, str]:
    # URL-encoded forms only: parsed here so the server needs no multipart dependency.
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def csrf_ok(who: Who, form: dict[str, str]) -> bool:
    if who.csrf is None:
        return True  # bearer header: a browser never attaches it on its own
    return secrets.compare_digest(form.get("csrf", ""), who.csrf)
