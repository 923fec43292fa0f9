"""A fast path for the idle heartbeat, the most frequent request by far (issue 9 item 5).

An idle agent's ``POST /v1/agent/poll`` with ``wait_seconds: 0`` and nothing running needs
three things: its token, its ``last_seen`` moved forward, and the answer "nothing for you".
Through FastAPI that costs about 0.8 ms of CPU (middlewares, routing, dependency solving,
pydantic on the way in and out); here, in plain ASGI in front of everything else, it costs the
body read, one ``json.loads``, a token cache lookup and the heartbeat group commit
(control/heartbeats.py), whose answer is the same exact one the router would give.

Only the plainly well-formed idle poll is served here. Everything else is replayed, body and
all, to the normal application, which answers exactly as if this layer were not there (the
same 401/403/413/422 shapes): a token that is unknown, expired or revoked (revocation drops
the cache entry; a miss is looked up as the normal path would, and the answer cached), a
non-agent token, another content type, a body over ``MAX_FAST_BODY`` bytes, JSON that is not
an object of the known fields with the right types, ``wait_seconds`` other than 0, anything
running, or an agent the group commit does not answer as idle (unknown agent, another pool's
agent, work waiting, a database error). In that last case the heartbeat already ran, so the
router is told to skip its own (``SKIP_BEAT``) and goes straight to the full poll.

Observability is kept: each answer gets an ``X-Request-ID`` (the client's sane one, or a new
one) and is counted in ``huangpu_http_request_seconds`` under the route ``/v1/agent/poll``,
like the normal path.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huangpu.api.requestid import SANE_REQUEST_ID, new_request_id

PATH = "/v1/agent/poll"
MAX_FAST_BODY = 4096  # an idle poll is ~100 bytes; bigger ones take the normal path
SKIP_BEAT = "huangpu.fastpoll.beaten"  # scope key: the heartbeat ran and said "not idle"
_FIELDS = frozenset({"agent_id", "running", "wait_seconds", "features"})
_MAX_FEATURES = 16  # PollRequest.features' max_length


def idle_body() -> bytes:
    """What the router sends an idle agent (PollResponse, ``preempt`` left out when empty)."""
    from huangpu.api.routers.agent import IDLE

    return IDLE.model_dump_json().encode()


def _idle_request(body: bytes) -> str | None:
    """The agent id of a plainly idle ``wait_seconds: 0`` poll, or None (take the normal path).

    Mirrors PollRequest (extra fields forbidden, types as declared) and the body guard (no NUL,
    no escapes that could hide a lone surrogate); anything it is unsure of is None."""
    if b"\\u" in body or b"\x00" in body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    agent_id = data.get("agent_id")
    if type(agent_id) is not str:
        return None
    running = data.get("running", [])
    if type(running) is not list or running:
        return None
    wait = data.get("wait_seconds")  # absent means the model's default, 10 s: not idle
    if type(wait) not in (int, float) or wait != 0:
        return None
    features = data.get("features", [])
    if (
        type(features) is not list
        or len(features) > _MAX_FEATURES
        or any(type(f) is not str for f in features)
    ):
        return None
    return agent_id


class FastPollMiddleware:
    """Outermost layer of the app (see the module doc). ``platform`` is huangpu.api.app's."""

    def __init__(self, app: ASGIApp, platform: Any) -> None:
        self.app = app
        self.platform = platform
        self.body = idle_body()
        self.headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]
        self.observe = platform.metrics.requests.labels("POST", PATH, "200").observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        messages: list[Message] = []
        size = 0
        complete = False
        while size <= MAX_FAST_BODY:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away: the normal path sees it too
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                complete = True
                break

        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        served = False
        if complete and size <= MAX_FAST_BODY:
            served = await self._serve(scope, messages, send, start)
        if not served:
            await self.app(scope, replay, send)

    async def _serve(self, scope: Scope, messages: list[Message], send: Send, start: float) -> bool:
        """True when the idle answer was sent; False (nothing sent) to take the normal path."""
        authorization = content_type = rid = b""
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                authorization = value
            elif key == b"content-type":
                content_type = value
            elif key == b"x-request-id":
                rid = value
        if content_type.lower() != b"application/json":
            return False
        scheme, _, secret = authorization.decode("latin-1").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return False
        tokens = self.platform.tokens
        hit, principal = tokens.cached(secret)
        if not hit:
            # The cache holds a token for 2 s: without this, each agent token's first poll
            # after that would take the normal path. The lookup is the one the normal path
            # makes (shared with concurrent misses) and is cached, so a refusal there is
            # answered from the cache with the usual 401.
            try:
                principal = await tokens.lookup_shared(secret)
            except Exception:
                return False
        if principal is None or principal.role != "agent" or not principal.pool_id:
            return False
        body = (
            messages[0].get("body", b"")
            if len(messages) == 1
            else b"".join(m.get("body", b"") for m in messages)
        )
        agent_id = _idle_request(body)
        if agent_id is None:
            return False
        try:
            idle = await asyncio.wrap_future(self.platform.agents.beat(principal.pool_id, agent_id))
        except Exception:
            return False  # the normal path beats again and reports the failure its own way
        if not idle:
            scope[SKIP_BEAT] = True
            return False
        if not SANE_REQUEST_ID.match(rid):
            rid = new_request_id()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*self.headers, (b"x-request-id", rid)],
            }
        )
        await send({"type": "http.response.body", "body": self.body})
        self.observe(time.perf_counter() - start)
        return True
