"""Token-bucket rate limits for sign-in and job submission: 429 with Retry-After.

Plain ASGI in front of routing, so a throttled request costs no body parsing, no token lookup
and no database work. Submits are keyed by the credential presented (the bearer header or the
web session cookie), sign-ins by the client address. The key is the credential as sent, not
the principal it resolves to: checking it would cost the lookup the limit exists to save, and
an unknown credential is refused by authentication anyway. Buckets live in this process, so
with N replicas behind a balancer the city-wide limit is up to N times the setting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from huangpu.api.guards import error_response

MAX_KEYS = 100_000  # bound memory under a flood of distinct keys


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up, one bucket per key."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Spend one token; 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= MAX_KEYS:
                    self._buckets.clear()
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


@dataclass(frozen=True)
class Limits:
    submit: TokenBucket
    login: TokenBucket


SUBMIT_PATHS = frozenset({"/v1/jobs", "/v1/jobs:batch", "/console/jobs"})
LOGIN_PATHS = frozenset({"/login"})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        wait = 0.0
        if path in SUBMIT_PATHS:
            credential = _header(scope, b"authorization") or _header(scope, b"cookie")
            wait = self.limits.submit.take(credential or "ip:" + _client(scope))
        elif path in LOGIN_PATHS:
            wait = self.limits.login.take(_client(scope))
        if wait > 0:
            response = error_response(
                429,
                "rate_limited",
                f"too many requests; retry in {wait:.1f} s",
                None,
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
