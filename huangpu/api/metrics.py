"""Prometheus metrics. Queue depth (jobs by state), ledger postings and subsidy spent are read
from the store at scrape time, so they are right even though the scheduler and metering run in
another process; that process serves its own cycle metrics (control/sched_metrics.py)."""

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
from huangpu.store.ledger_models import LedgerPostingRow, VoucherProgramRow
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


class _LedgerCollector(Collector):
    """Ledger postings and subsidy spent, read from the store at scrape time: metering runs
    in the scheduler process, so only the store knows them for every process at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read() as session:
            postings = session.scalar(select(func.count(LedgerPostingRow.id))) or 0
            spent = session.execute(select(VoucherProgramRow.id, VoucherProgramRow.spent_fen))
            by_program = [(str(p), int(s)) for p, s in spent]
        yield GaugeMetricFamily(
            "huangpu_ledger_postings", "Ledger postings written so far", value=postings
        )
        gauge = GaugeMetricFamily(
            "huangpu_subsidy_spent_fen", "Voucher subsidy paid, by program", labels=["program"]
        )
        for program, fen in by_program:
            gauge.add_metric([program], fen)
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
        self.registry.register(_LedgerCollector(db))


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
