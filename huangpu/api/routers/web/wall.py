"""The wall screen (/wall), its server-sent event stream, and the static assets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from huangpu.api.routers.web.gates import unauthorized_json
from huangpu.api.routers.web.rendering import render, to_login
from huangpu.api.routers.web.sessions import who_from
from huangpu.api.wall import hub_for
from huangpu.web import STATIC
from huangpu.web.i18n import FAMILY_NAMES, LANGS, translator

STREAM_TICK = 0.25  # how often a stream looks for a newer snapshot: well inside the 2 s budget
KEEPALIVE = 15.0

router = APIRouter()


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


def _wall_allowed(request: Request) -> bool:
    if request.app.state.platform.settings.wall_public:
        return True
    who = who_from(request)
    return who is not None and who.role == "operator"


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/wall", status_code=307)


@router.get("/wall", include_in_schema=False)
async def wall(request: Request) -> Response:
    if not _wall_allowed(request):
        return to_login(request)
    hub = hub_for(request.app)
    snapshot = await run_in_threadpool(hub.current)
    return render(
        request,
        "wall.html",
        snapshot=snapshot,
        strings={k: translator(k) for k in LANGS},
        family_names=FAMILY_NAMES,
    )


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/v1/stream/wall")
async def stream_wall(request: Request) -> Response:
    """The wall's snapshot as server-sent events: one `snapshot` event whenever it changes
    (checked four times a second against the shared, once-a-second snapshot), and a `series`
    event when the 24 h chart gains a point."""
    if not _wall_allowed(request):
        return unauthorized_json("the wall is not public here; sign in with an operator token")
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
                        yield sse("series", series)
                    yield sse(
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

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
