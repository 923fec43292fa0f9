"""The FastAPI application: one Platform object holds the services every router uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from huangpu import __version__
from huangpu.api.auth import TokenCache
from huangpu.api.fastpoll import FastPollMiddleware
from huangpu.api.guards import BodyGuardMiddleware
from huangpu.api.metrics import Metrics, MetricsMiddleware
from huangpu.api.ratelimit import Limits, RateLimitMiddleware, TokenBucket
from huangpu.api.requestid import RequestIdMiddleware
from huangpu.api.routers import agent, ledger, operator, public, quotas, shared, tenant, web
from huangpu.api.schemas import ErrorResponse
from huangpu.control.agent_service import AgentService
from huangpu.control.feasibility import CapacityCache
from huangpu.control.job_service import JobService
from huangpu.core.clock import Clock, SystemClock
from huangpu.core.errors import HuangpuError
from huangpu.settings import Settings
from huangpu.store.db import Database


@dataclass
class Platform:
    settings: Settings
    db: Database
    clock: Clock
    jobs: JobService
    agents: AgentService
    metrics: Metrics
    tokens: TokenCache


def build_platform(settings: Settings, db: Database, clock: Clock | None = None) -> Platform:
    clock = clock or SystemClock()
    capacity = CapacityCache(db)
    return Platform(
        settings=settings,
        db=db,
        clock=clock,
        jobs=JobService(db, clock, capacity.check),
        agents=AgentService(db, clock, settings.lease_seconds, settings.poll_timeout_seconds),
        metrics=Metrics(db),
        tokens=TokenCache(db, clock),
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (401, "missing, unknown, expired or revoked token"),
        (403, "right token, wrong role, org or pool"),
        (404, "no such object, or not visible to this token"),
        (409, "conflict, e.g. an illegal state change"),
        (413, "request body too large"),
        (422, "invalid input; the field is named"),
        (429, "rate limited; see Retry-After"),
    )
}


def _error(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status
    )


def _field(loc: tuple[int | str, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="huangpu",
        version=__version__,
        description="City-scale dispatch platform for AI compute. Errors have one shape: "
        '`{"error": {"code", "message", "field"}}`.',
        # No OpenTelemetry here (/metrics is Prometheus text): off, FastAPI's native telemetry
        # still asked OpenTelemetry for its three global providers on every request, about a
        # tenth of the event loop's time under heartbeat load.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    # Every JSON route documents the one error shape for its 4xx answers (FastAPI would
    # otherwise document its own 422 body, which this app never sends).
    errors = ERROR_RESPONSES
    # The agent protocol first: its polls are most of the requests, and routes are matched in
    # order (its /v1/agent/ paths overlap no other router's).
    for router in (agent.router, public.router, shared.router, operator.router, tenant.router):
        app.include_router(router, responses=errors)
    app.include_router(web.router)  # wall, consoles, static assets and SSE streams
    app.include_router(ledger.router, responses=errors)  # prices, vouchers, bills, settlement
    app.include_router(quotas.router, responses=errors)  # quotas per org and chip family

    @app.exception_handler(HuangpuError)
    async def _huangpu_error(_: Request, exc: HuangpuError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message, exc.field)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the models let through (e.g. out of its range): the
        # transaction rolled back, so this is bad input, not a server fault.
        return _error(422, "invalid_input", "a value is out of the range the store accepts", None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = _field(tuple(first.get("loc", ())))
        message = first.get("msg", "invalid input")
        if first.get("type") == "extra_forbidden":
            message = "unknown field"
        elif first.get("type") == "json_invalid":
            message = "request body is not valid JSON"
        return _error(422, "invalid_input", f"{field}: {message}" if field else message, field)

    # Added last runs first: the idle-poll fast path, request id, metrics, rate limits, then
    # the body guard (issue 9).
    settings = platform.settings
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=settings.max_body_bytes)
    limits = Limits(
        submit=TokenBucket(settings.submit_rate_per_second, settings.submit_burst),
        login=TokenBucket(settings.login_rate_per_second, settings.login_burst),
    )
    app.add_middleware(RateLimitMiddleware, limits=limits)
    app.add_middleware(MetricsMiddleware, metrics=platform.metrics)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: idle heartbeats are answered before any of the above (api/fastpoll.py).
    app.add_middleware(FastPollMiddleware, platform=platform)

    return app
