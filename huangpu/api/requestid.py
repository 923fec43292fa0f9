"""``X-Request-ID`` on every response: the client's own id when it sent a sane one, else a
new one. The id is put in the logging context (huangpu.logfmt) while the request runs."""

from __future__ import annotations

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huangpu.logfmt import request_id

SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> bytes:
    """16 hex digits. A correlation id, not a secret: ``random`` (reseeded in each forked
    server worker) instead of ``secrets``, whose getrandom() call per request showed as 7% of
    the server's busy samples under load (docs/benchmarks.md, Load)."""
    return b"%016x" % random.getrandbits(64)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        rid = incoming if SANE_REQUEST_ID.match(incoming) else new_request_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid)]
            await send(message)

        token = request_id.set(rid.decode())
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
