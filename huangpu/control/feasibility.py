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

    def _inventory(self) -> list[DeviceView]:
        with self._lock:
            if time.monotonic() - self._read_at > self.ttl:
                with self.db.read() as session:
                    self._devices = devices(session)
                self._read_at = time.monotonic()
            return self._devices

    def check(self, spec: JobSpec) -> None:
        inventory = self._inventory()
        if not inventory:
            raise Unsatisfiable(
                "no pool has registered any devices yet; start an agent with "
                "`huangpu agent --server URL --token T --pool NAME` first",
                "resources",
            )
        snapshot, _ = build_snapshot(inventory, [("new-job", spec, 0, 0.0)], 0.0, all_free=True)
        reason = never_fits(snapshot, 0)
        if reason is not None:
            raise Unsatisfiable(
                f"no pool could ever run this job: {reason.explain()}",
                _FIELD.get(reason.reason, "resources"),
            )
