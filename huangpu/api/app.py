"""The FastAPI application: one Platform object holds the services every router uses."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from huangpu import __version__
from huangpu.api.auth import TokenCache
from huangpu.api.metrics import Metrics, MetricsMiddleware
from huangpu.api.routers import agent, ledger, operator, public, shared, tenant, web
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
        tokens=TokenCache(db),
    )


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
    )
    app.state.platform = platform
    for router in (public.router, shared.router, operator.router, tenant.router, agent.router):
        app.include_router(router)
    app.include_router(web.router)  # wall, consoles, static assets and SSE streams
    app.include_router(ledger.router)  # prices, vouchers, bills, budgets, settlement

    @app.exception_handler(HuangpuError)
    async def _huangpu_error(_: Request, exc: HuangpuError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message, exc.field)

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

    app.add_middleware(MetricsMiddleware, metrics=platform.metrics)

    return app
