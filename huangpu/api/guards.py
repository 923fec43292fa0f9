"""Input guards in front of routing: every request that could only hurt gets a clean 4xx
before a router, a parser or the database sees it.

- bodies over ``max_body_bytes``: 413 (by Content-Length up front, or counted while read);
- JSON nested deeper than ``MAX_JSON_DEPTH``: 422 (the stdlib parser would recurse, and a
  deep enough body ends in RecursionError);
- NUL characters in the path, the query or a body, and lone UTF-16 surrogates in JSON
  strings: 422. PostgreSQL text cannot hold NUL, and neither database driver can encode a
  lone surrogate, so either would otherwise surface as a 500 after part of the work was done.

The guard buffers the body (at most ``max_body_bytes``) and replays it to the app; later
``receive`` calls (a long-poll watching for disconnect) go to the server as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(rb'[\[\]{}"\\]')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The API's one error shape, for code that runs outside FastAPI's exception handlers."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}},
        status_code=status,
        headers=dict(headers or {}),
    )


def json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of a JSON text, stopping early once past ``limit``. Strings are skipped,
    escapes included. Depth can never exceed the count of openers, so cheap bodies skip the
    scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _JSON_TOKENS.finditer(body):
        pos, char = match.start(), match.group()
        if in_string:
            if pos == escaped_at:
                continue
            if char == b"\\":
                escaped_at = pos + 1
            elif char == b'"':
                in_string = False
            continue
        if char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _has_lone_surrogate(body: bytes) -> bool:
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        # json.loads pairs valid surrogates into one character; a lone one survives and
        # cannot be encoded as UTF-8.
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False  # not JSON: the router's own parser reports that
    return False


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


def body_problem(body: bytes, content_type: bytes) -> tuple[str, str] | None:
    """(field, message) for a body that must be refused, or None."""
    if b"\x00" in body:
        return "body", "NUL characters are not allowed"
    if b"form-urlencoded" in content_type:
        if b"%00" in body:
            return "body", "NUL characters are not allowed"
        return None
    stripped = body.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return None
    if b"\\u0000" in body:
        return "body", "NUL characters are not allowed"
    if json_depth(body) > MAX_JSON_DEPTH:
        return "body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    if _has_lone_surrogate(body):
        return "body", "text holds a lone UTF-16 surrogate; send valid Unicode"
    return None


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await error_response(
                422, "invalid_input", "NUL characters are not allowed in the URL", "path"
            )(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return

        def too_big() -> ASGIApp:  # built only when needed: this runs for every POST
            return error_response(
                413,
                "too_large",
                f"request body is larger than {self.max_body_bytes} bytes",
                "body",
            )

        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_big()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await too_big()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = body_problem(body, _header(scope, b"content-type").lower())
        if problem is not None:
            field, message_text = problem
            await error_response(422, "invalid_input", message_text, field)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
