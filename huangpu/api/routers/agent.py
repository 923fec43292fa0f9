"""The agent protocol over HTTP. Poll is a long-poll: it waits for a lease, a cancel or a stop
so an idle agent costs the server one request per poll timeout, not a busy loop."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from huangpu.api.auth import Principal, require
from huangpu.api.fastpoll import SKIP_BEAT
from huangpu.core.protocol import (
    PollRequest,
    PollResponse,
    RegisterRequest,
    RegisterResponse,
    ReportRequest,
    ReportResponse,
)

router = APIRouter(prefix="/v1/agent")
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
    while not (response.leases or response.cancel or response.stop or response.preempt):
        if time.monotonic() >= deadline or await request.is_disconnected():
            break
        await asyncio.sleep(POLL_STEP_SECONDS)
        if await asyncio.wrap_future(service.heartbeats.check(body.agent_id)):
            response = await run_in_threadpool(
                partial(service.poll_once, idle_checked=True),
                _pool(who),
                body.agent_id,
                [],
                body.features,
            )
    return response


@router.post("/report")
def report(body: ReportRequest, request: Request, who: AgentToken) -> ReportResponse:
    return request.app.state.platform.agents.report(_pool(who), body)  # type: ignore[no-any-return]
