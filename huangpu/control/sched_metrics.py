"""The scheduler process's own Prometheus metrics, served on 127.0.0.1:<port> by
prometheus_client's HTTP server (``huangpu scheduler --metrics-port``).

The scheduler is its own process, so what only it knows (how long a cycle took, what it
decided, which leases it reaped, whether it leads) is exposed by it. Figures the store holds
(queue depth by state, ledger postings, subsidy spent) are read from the store by the API's
/metrics at scrape time, so they are right whichever process wrote them.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class SchedulerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.cycle_seconds = Histogram(
            "huangpu_scheduler_cycle_seconds",
            "Time one scheduling cycle took (reap, snapshot, decide, apply)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.placements = Counter(
            "huangpu_scheduler_placements_total", "Jobs placed on a pool", registry=self.registry
        )
        self.pending = Gauge(
            "huangpu_scheduler_pending_jobs",
            "Jobs left pending after the last cycle",
            registry=self.registry,
        )
        self.lease_expiries = Counter(
            "huangpu_scheduler_lease_expiries_total",
            "Attempts marked LOST because their lease ran out",
            registry=self.registry,
        )
        self.requeued = Counter(
            "huangpu_scheduler_requeued_total",
            "LOST or preempted jobs requeued",
            registry=self.registry,
        )
        self.failures = Counter(
            "huangpu_scheduler_cycle_failures_total", "Cycles that raised", registry=self.registry
        )
        self.leader = Gauge(
            "huangpu_scheduler_leader",
            "1 while this process leads, 0 on standby",
            registry=self.registry,
        )

    def observe(self, report: Any) -> None:
        """One cycle's report (loop.CycleReport)."""
        self.cycle_seconds.observe(report.seconds)
        self.placements.inc(report.applied)
        self.pending.set(len(report.result.pending))
        self.lease_expiries.inc(report.reaped.lost)
        self.requeued.inc(report.reaped.requeued)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
