"""Refuse at submit time a job that no registered pool could ever run, with the reason."""

from __future__ import annotations

import logging
import threading
import time

from huangpu.control.snapshots import build_snapshot
from huangpu.core.errors import Unsatisfiable
from huangpu.core.jobspec import JobSpec
from huangpu.scheduling.feasibility import never_fits
from huangpu.scheduling.result import PendingReason
from huangpu.store.db import Database
from huangpu.store.inventory import DeviceView, devices

log = logging.getLogger(__name__)

_FIELD = {
    PendingReason.NO_MATCHING_CHIP: "resources.chips",
    PendingReason.INSUFFICIENT_MEMORY: "resources.min_memory_gib",
    PendingReason.TOO_MANY_ACCELERATORS_PER_NODE: "resources.accelerators",
    PendingReason.GANG_DOES_NOT_FIT: "resources.nodes",
}


Shape = tuple[object, ...]
MAX_SHAPES = 256  # job shapes whose verdicts a background refresh computes ahead
REFRESH_COST = 0.05  # at most this share of the time goes to background refreshes
MAX_REFRESH_AGE = 60.0  # but the inventory is never older than this


class CapacityCache:
    """The city's inventory, re-read at most every ``ttl`` seconds so submits stay cheap.

    A stale inventory is re-read by a background thread while submits go on with the old one
    (a city has tens of thousands of devices: reading them and re-judging the usual job shapes
    took the event loop 100 ms and more every ``ttl``), and no more often than ``REFRESH_COST``
    of the time, so a large city's refresh cannot crowd out the requests (one process, one
    GIL). Only before a refusal is the inventory read on the spot, so a job is never refused
    for chips an agent registered a moment ago; a stale inventory only lets through a job the
    scheduler will then leave pending with its reason.
    """

    def __init__(self, db: Database, ttl: float = 2.0) -> None:
        self.db = db
        self.ttl = ttl
        self._lock = threading.Lock()
        # The inventory and the verdicts by job shape made against it, swapped together:
        # most submissions repeat a handful of shapes, and a capacity snapshot is not free.
        self._state: tuple[list[DeviceView], dict[Shape, Unsatisfiable | None]] = ([], {})
        self._read_at = float("-inf")
        self._max_age = ttl  # ttl, or longer when a refresh takes long (REFRESH_COST)
        self._refreshing = False
        self._shapes: dict[Shape, JobSpec] = {}  # one spec of each shape seen, for warm-up

    def _current(
        self, max_age: float
    ) -> tuple[list[DeviceView], dict[Shape, Unsatisfiable | None]]:
        with self._lock:
            if time.monotonic() - self._read_at <= max_age:
                return self._state
            if max_age > 0 and self._read_at != float("-inf"):
                if time.monotonic() - self._read_at <= max(max_age, self._max_age):
                    return self._state
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(
                        target=self._refresh, name="capacity-refresh", daemon=True
                    ).start()
                return self._state
        self._refresh(warm=False)
        return self._state

    def _refresh(self, warm: bool = True) -> None:
        try:
            began = time.monotonic()
            with self.db.read() as session:
                inventory = devices(session)
            verdicts: dict[Shape, Unsatisfiable | None] = {}
            if warm:
                for shape, spec in list(self._shapes.items()):
                    verdicts[shape] = self._verdict(inventory, spec)
            took = time.monotonic() - began
            with self._lock:
                if began >= self._read_at:
                    self._state, self._read_at = (inventory, verdicts), began
                if warm:
                    self._max_age = max(self.ttl, min(MAX_REFRESH_AGE, took / REFRESH_COST))
        except Exception:
            log.exception("capacity refresh failed; the next submit tries again")
            if not warm:
                raise
        finally:
            if warm:
                with self._lock:
                    self._refreshing = False

    def check(self, spec: JobSpec) -> None:
        verdict = self._cached_verdict(spec, self.ttl)
        if verdict is not None:
            # Before refusing, make sure no agent registered the needed chips a moment ago.
            verdict = self._cached_verdict(spec, 0.0)
        if verdict is not None:
            raise Unsatisfiable(verdict.message, verdict.field)

    def _cached_verdict(self, spec: JobSpec, max_age: float) -> Unsatisfiable | None:
        inventory, verdicts = self._current(max_age)
        r = spec.resources
        shape = (tuple(r.chips), r.accelerators, r.nodes, r.min_memory_gib)
        if shape not in verdicts:
            verdicts[shape] = self._verdict(inventory, spec)
            if len(self._shapes) < MAX_SHAPES:
                self._shapes.setdefault(shape, spec)
        return verdicts[shape]

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
