"""Prometheus metrics. Queue depth is read from the store at scrape time, so it is right even
when the scheduler runs in another process."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huangpu.core.states import JobState
from huangpu.store.db import Database
from huangpu.store.models import JobRow


class _JobStateCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("huangpu_jobs", "Jobs by state", labels=["state"])
        with self.db.read() as session:
            counts = dict(
                session.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
            )
        for state in JobState:
            gauge.add_metric([state.value], counts.get(state.value, 0))
        yield gauge


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "huangpu_http_request_seconds",
            "API latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.jobs_submitted = Counter(
            "huangpu_jobs_submitted_total", "Jobs accepted", registry=self.registry
        )
        self.registry.register(_JobStateCollector(db))


class MetricsMiddleware:
    """Plain ASGI, not ``@app.middleware``: the decorator form costs a task and a stream
    wrapper per request, a real share of a submit's CPU time."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - start
            )
            if status == 201 and route == "/v1/jobs":
                self.metrics.jobs_submitted.inc()
