"""The agent protocol over HTTP. Poll is a long-poll: it waits for a lease, a cancel or a stop
so an idle agent costs the server one request per poll timeout, not a busy loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive

from huangpu.api.auth import Principal, require
from huangpu.api.fastpoll import SKIP_BEAT
from huangpu.api.pollwait import PollWaits
from huangpu.core.protocol import (
    PollRequest,
    PollResponse,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    ReportResponse,
)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        # Polls still waiting are answered "nothing for you"; the sweeping task stops.
        waits: PollWaits | None = getattr(app.state, "poll_waits", None)
        if waits is not None:
            waits.close()


router = APIRouter(prefix="/v1/agent", lifespan=_lifespan)
AgentToken = Annotated[Principal, Depends(require("agent"))]
POLL_STEP_SECONDS = 0.2
IDLE = PollResponse(leases=[], cancel=[], stop=[], preempt=[])


def _pool(principal: Principal) -> str:
    assert principal.pool_id is not None  # agent tokens are always bound to a pool
    return principal.pool_id


@router.post("/register")
def register(body: RegisterRequest, request: Request, who: AgentToken) -> RegisterResponse:
    return request.app.state.platform.agents.register(_pool(who), body)  # type: ignore[no-any-return]


@router.post("/poll")
async def poll(body: PollRequest, request: Request, who: AgentToken) -> PollResponse:
    service = request.app.state.platform.agents
    wait = min(body.wait_seconds, service.poll_timeout)
    deadline = time.monotonic() + wait
    # An idle agent (running nothing) is answered by the heartbeat group commit without a
    # thread-pool hop; anything else, or an idle agent with work waiting, takes the full poll,
    # which renews leases and records the heartbeat. Later passes only check, through the same
    # group commit, until there is something to hand out.
    # huangpu.api.fastpoll answers plainly idle polls before routing; when its heartbeat found
    # work waiting it hands the poll on marked, so the heartbeat is not run twice.
    response = IDLE
    if (
        body.running
        or request.scope.get(SKIP_BEAT)
        or not await asyncio.wrap_future(service.beat(_pool(who), body.agent_id))
    ):
        response = await run_in_threadpool(
            partial(service.poll_once, idle_checked=True),
            _pool(who),
            body.agent_id,
            body.running,
            body.features,
        )
    if _has_work(response) or time.monotonic() >= deadline:
        return response
    # Wait in the process's one waiting list (api/pollwait.py): one sweep every
    # POLL_STEP_SECONDS asks for all waiting agents at once and wakes those with work. The
    # client going away is seen when the server reports it (a receive that ends with
    # http.disconnect), not by asking each poll.
    waits = waits_for(request.app)
    gone = asyncio.ensure_future(_disconnect(request.receive))
    try:
        while not _has_work(response):
            if not await waits.wait(body.agent_id, deadline, gone) or gone.done():
                break
            response = await run_in_threadpool(
                partial(service.poll_once, idle_checked=True),
                _pool(who),
                body.agent_id,
                [],
                body.features,
            )
    finally:
        gone.cancel()
    return response


def _has_work(response: PollResponse) -> bool:
    return bool(response.leases or response.cancel or response.stop or response.preempt)


async def _disconnect(receive: Receive) -> None:
    """Ends when the client has gone away (the body was read already). A receive that fails
    counts as gone: the poll answers at once and the agent polls again."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:
        return


def waits_for(app: Any) -> PollWaits:
    """The app's waiting list, made on first use (per process: a forked worker builds its own
    app). Its sweep is the heartbeat writer's."""
    waits: PollWaits | None = getattr(app.state, "poll_waits", None)
    if waits is None:
        waits = PollWaits(app.state.platform.agents.heartbeats.sweep, POLL_STEP_SECONDS)
        app.state.poll_waits = waits
    return waits


@router.post("/report")
def report(body: ReportRequest, request: Request, who: AgentToken) -> ReportResponse:
    return request.app.state.platform.agents.report(_pool(who), body)  # type: ignore[no-any-return]
