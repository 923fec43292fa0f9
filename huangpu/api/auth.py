"""Bearer tokens, stored hashed; each bound to a role and to an org (tenant) or pool (agent).

Lookups are cached in-process for a short time, since every request needs one. Revoking a
token through this server drops it from the cache at once; another server replica notices
within ``TOKEN_CACHE_SECONDS`` (docs/deploy.md: the replica window). An expiring token is
checked against the injected clock on every request, cache hit or not, so it never outlives
its ``expires_at``. Secrets are looked up by their SHA-256 (registry.find_token), never
compared byte by byte. When an entry expires under load, the requests that miss it together
share one lookup (``lookup_shared``) instead of each queueing its own in the thread pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from huangpu.control.job_service import Caller
from huangpu.core.clock import Clock, SystemClock
from huangpu.core.errors import Forbidden, Unauthorized
from huangpu.store import registry
from huangpu.store.db import Database

TOKEN_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    org_id: str | None
    pool_id: str | None
    expires_at: float | None = None

    @property
    def caller(self) -> Caller:
        return Caller(self.role, self.org_id)


class TokenCache:
    def __init__(
        self, db: Database, clock: Clock | None = None, ttl: float = TOKEN_CACHE_SECONDS
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        # Lookups in flight, per event loop: those who miss meanwhile wait for the same one.
        self._inflight: dict[tuple[int, str], asyncio.Future[Principal | None]] = {}
        self._generation = 0  # moved by forget(): lookups begun before it are not cached

    def cached(self, secret: str) -> tuple[bool, Principal | None]:
        with self._lock:
            entry = self._entries.get(secret)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        principal = entry[0]
        expires_at = None if principal is None else principal.expires_at
        if expires_at is not None and expires_at <= self.clock.now():
            return True, None
        return True, principal

    def lookup(self, secret: str) -> Principal | None:
        generation = self._generation
        with self.db.read() as session:
            row = registry.find_token(session, secret, self.clock.now())
            principal = (
                None
                if row is None
                else Principal(row.id, row.role, row.org_id, row.pool_id, row.expires_at)
            )
        with self._lock:
            if len(self._entries) > 100_000:  # bound memory under a flood of bad tokens
                self._entries.clear()
            if generation == self._generation:  # no revocation while it read: cache it
                self._entries[secret] = (principal, time.monotonic() + self.ttl)
        return principal

    async def lookup_shared(self, secret: str) -> Principal | None:
        """``lookup`` in the thread pool, at most one at a time per secret and event loop."""
        key = (id(asyncio.get_running_loop()), secret)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(run_in_threadpool(self.lookup, secret))
            self._inflight[key] = future
            future.add_done_callback(
                lambda done: self._inflight.pop(key) if self._inflight.get(key) is done else None
            )
        # Shielded: one waiter giving up (a client gone) must not cancel the others' lookup.
        return await asyncio.shield(future)

    def forget(self, token_id: str) -> None:
        with self._lock:
            self._generation += 1
            # Requests from now on start a fresh lookup rather than join one begun before.
            self._inflight.clear()
            for secret, (principal, _) in list(self._entries.items()):
                if principal is not None and principal.token_id == token_id:
                    del self._entries[secret]


def _secret(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(create one with `huangpu tokens create`)",
            "authorization",
        )
    return secret.strip()


async def authenticate(request: Request) -> Principal:
    secret = _secret(request)
    tokens: TokenCache = request.app.state.platform.tokens
    hit, principal = tokens.cached(secret)
    if not hit:
        principal = await tokens.lookup_shared(secret)
    if principal is None:
        raise Unauthorized(
            "unknown, expired or revoked token; ask an operator for a new one", "authorization"
        )
    return principal


def require(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role not in roles:
            raise Forbidden(
                f"this route needs a {' or '.join(roles)} token; yours is a {principal.role} token",
                "authorization",
            )
        return principal

    return dependency
