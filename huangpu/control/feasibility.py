"""Refuse at submit time a job that no registered pool could ever run, with the reason."""

from __future__ import annotations

import threading
import time

from huangpu.control.snapshots import build_snapshot
from huangpu.core.errors import Unsatisfiable
from huangpu.core.jobspec import JobSpec
from huangpu.scheduling.feasibility import never_fits
from huangpu.scheduling.result import PendingReason
from huangpu.store.db import Database
from huangpu.store.inventory import DeviceView, devices

_FIELD = {
    PendingReason.NO_MATCHING_CHIP: "resources.chips",
    PendingReason.INSUFFICIENT_MEMORY: "resources.min_memory_gib",
    PendingReason.TOO_MANY_ACCELERATORS_PER_NODE: "resources.accelerators",
    PendingReason.GANG_DOES_NOT_FIT: "resources.nodes",
}


class CapacityCache:
    """The city's inventory, re-read at most every ``ttl`` seconds so submits stay cheap."""

    def __init__(self, db: Database, ttl: float = 2.0) -> None:
        self.db = db
        self.ttl = ttl
        self._lock = threading.Lock()
        self._devices: list[DeviceView] = []
        self._read_at = float("-inf")
        # Verdicts by job shape, valid until the inventory is re-read: most submissions
        # repeat a handful of shapes, and building a capacity snapshot is not free.
        self._verdicts: dict[tuple[object, ...], Unsatisfiable | None] = {}

    def _inventory(self, max_age: float) -> list[DeviceView]:
        with self._lock:
            if time.monotonic() - self._read_at > max_age:
                with self.db.read() as session:
                    self._devices = devices(session)
                self._read_at = time.monotonic()
                self._verdicts = {}
            return self._devices

    def check(self, spec: JobSpec) -> None:
        verdict = self._cached_verdict(spec, self.ttl)
        if verdict is not None:
            # Before refusing, make sure no agent registered the needed chips a moment ago.
            verdict = self._cached_verdict(spec, 0.0)
        if verdict is not None:
            raise Unsatisfiable(verdict.message, verdict.field)

    def _cached_verdict(self, spec: JobSpec, max_age: float) -> Unsatisfiable | None:
        inventory = self._inventory(max_age)
        r = spec.resources
        shape = (tuple(r.chips), r.accelerators, r.nodes, r.min_memory_gib)
        if shape not in self._verdicts:
            self._verdicts[shape] = self._verdict(inventory, spec)
        return self._verdicts[shape]

    @staticmethod
    def _verdict(inventory: list[DeviceView], spec: JobSpec) -> Unsatisfiable | None:
        if not inventory:
            return Unsatisfiable(
                "no pool has registered any devices yet; start an agent with "
                "`huangpu agent --server URL --token T --pool NAME` first",
                "resources",
            )
        snapshot, _ = build_snapshot(inventory, [("new-job", spec, 0, 0.0)], 0.0, all_free=True)
        reason = never_fits(snapshot, 0)
        if reason is None:
            return None
        return Unsatisfiable(
            f"no pool could ever run this job: {reason.explain()}",
            _FIELD.get(reason.reason, "resources"),
        )
