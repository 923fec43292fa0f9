"""Prometheus metrics. Queue depth is read from the store at scrape time, so it is right even
when the scheduler runs in another process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

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
