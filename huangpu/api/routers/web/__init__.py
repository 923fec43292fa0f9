"""The web: the wall screen (/wall), the tenant console (/console), the operator console (/ops),
their static assets, and the server-sent event streams behind them (/v1/stream/...).

Pages sign in with a token once and then ride a server-side session (sessions.py). Every page
and stream is scoped like the JSON API: tenants see their org.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from huangpu.api.routers.web import console, ops, signin, wall
from huangpu.api.wall import hub_for, stop_hub


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The sampler must run while nobody watches, or the 24 h chart would have holes.
    hub_for(app)
    try:
        yield
    finally:
        stop_hub(app)


router = APIRouter(lifespan=_lifespan)
for part in (wall, signin, console, ops):
    router.include_router(part.router)
