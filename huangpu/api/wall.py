"""The wall's live snapshot: built from SQL aggregates once a second by one thread, and shared
by every page render and SSE client, so a hundred screens cost what one costs.

The thread also samples devices-in-use per pool every ``sample_seconds`` into ``util_samples``
(the 24 h chart survives a server restart) and prunes samples older than a day.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from huangpu.control.ledger_service import LedgerService
from huangpu.core.catalog import ChipModel, load_catalog
from huangpu.core.clock import Clock
from huangpu.core.errors import UnknownChip
from huangpu.core.families import FAMILIES
from huangpu.core.states import JobState
from huangpu.store import dashboard
from huangpu.store.db import Database

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
SERIES_BUCKET = 300.0  # the 24 h chart shows 5-minute means: 288 points, whatever the sampling
# A viewer keeps the refresher awake this long after its last request or stream tick.
IDLE_AFTER = 30.0

# Job moves the ticker shows, and what it calls them.
TICKER_MOVES = {
    JobState.RUNNING.value: "job_started",
    JobState.SUCCEEDED.value: "job_finished",
    JobState.FAILED.value: "job_failed",
    JobState.CANCELLED.value: "job_cancelled",
    JobState.LOST.value: "job_lost",
    JobState.PREEMPTED.value: "job_preempted",
}


def _chip(chip: str) -> ChipModel | None:
    try:
        return load_catalog().resolve(chip)
    except UnknownChip:
        return None


def local_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


@dataclass
class WallHub:
    db: Database
    clock: Clock
    lease_seconds: float
    refresh_seconds: float = 1.0
    sample_seconds: float = 60.0
    snapshot: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    subscribers: int = 0
    _demand_at: float = 0.0
    _slow: dict[str, Any] = field(default_factory=dict)
    _slow_at: float = -1e18
    _sampled_at: float = -1e18
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_body: str = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="wall-hub", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def touch(self) -> None:
        """Someone is looking: keep refreshing for a while."""
        self._demand_at = time.monotonic()

    def current(self) -> dict[str, Any]:
        """The latest snapshot; built on the spot if the thread has not made one yet."""
        self.touch()
        if not self.snapshot:
            self.refresh()
        return self.snapshot

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if self.clock.now() - self._sampled_at >= self.sample_seconds:
                    self.sample()
                if self.subscribers > 0 or started - self._demand_at < IDLE_AFTER:
                    self.refresh()
            except Exception:  # a bad second must not end the wall; the next one retries
                log.exception("wall refresh failed")
            self._stop.wait(max(0.05, self.refresh_seconds - (time.monotonic() - started)))

    # --- sampling -----------------------------------------------------------------------------

    def sample(self) -> None:
        now = self.clock.now()
        with self.db.read() as session:
            counts = dashboard.device_counts(session)
        per_pool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for pool_id, _chip_id, total, in_use in counts:
            per_pool[pool_id][0] += in_use
            per_pool[pool_id][1] += total
        with self.db.write() as session:
            dashboard.record_util(session, now, ((p, u, t) for p, (u, t) in per_pool.items()))
            dashboard.prune_util(session, now - DAY - SERIES_BUCKET)
        self._sampled_at = now
        self._slow_at = -1e18  # the series changed: rebuild it on the next refresh

    # --- the snapshot -------------------------------------------------------------------------

    def refresh(self) -> None:
        now = self.clock.now()
        with self.db.read() as session:
            counts = dashboard.device_counts(session)
            states = dashboard.job_state_counts(session)
            queue = dashboard.pool_queue_depth(session)
            kinds = dashboard.running_by_kind(session)
            pools = dashboard.pools(session)
            events = dashboard.recent_events(session, limit=24)
            agents = dashboard.agents(session)
            if now - self._slow_at >= 10.0:
                # Once per 10 s: these scan more rows and change slowly.
                self._slow = {
                    "tenants_today": dashboard.orgs_active_since(session, local_midnight(now)),
                    "series": self._series(session, pools, now),
                }
                self._slow["ledger"] = self._ledger(now)
                self._slow_at = now
        snap = self._build(now, counts, states, queue, kinds, pools, events, agents)
        body = json.dumps({k: v for k, v in snap.items() if k != "at"}, sort_keys=True)
        if body != self._last_body:
            self._last_body = body
            self.version += 1
        snap["version"] = self.version
        self.snapshot = snap

    def _ledger(self, now: float) -> dict[str, Any]:
        """Current prices per pool and voucher programs' budgets, from the ledger. The wall
        must keep running if the ledger fails, so a failure only hides the money panels."""
        try:
            service = LedgerService(self.db, self.clock)
            prices = service.prices()
            programs = service.programs()
        except Exception:
            log.exception("wall: ledger figures unavailable")
            return {"available": False}
        current: dict[tuple[str, str], tuple[float, int]] = {}
        for p in prices:
            key = (p["pool_id"], p["chip"])
            if (
                p["effective_from"] <= now
                and p["effective_from"] >= current.get(key, (-1e18, 0))[0]
            ):
                current[key] = (p["effective_from"], int(p["fen_per_hour"]))
        pool_price: dict[str, int] = {}
        for (pool_id, _chip), (_at, fen) in current.items():
            pool_price[pool_id] = min(fen, pool_price.get(pool_id, fen))
        return {
            "available": True,
            "pool_price_fen": pool_price,
            "programs": [
                {
                    "name": g["name"],
                    "funder": g["funder"],
                    "budget_fen": int(g["budget_fen"]),
                    "spent_fen": int(g["spent_fen"]),
                }
                for g in programs
            ],
            "budget_fen": sum(int(g["budget_fen"]) for g in programs),
            "spent_fen": sum(int(g["spent_fen"]) for g in programs),
        }

    def _series(self, session: Any, pools: list[dashboard.PoolInfo], now: float) -> dict[str, Any]:
        supplier_of = {p.id: p.supplier for p in pools}
        start = now - DAY
        buckets: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        seen: dict[tuple[int, str], int] = defaultdict(int)
        for at, pool_id, in_use, total in dashboard.util_series(session, start):
            b = int((at - start) // SERIES_BUCKET)
            cell = buckets[b][supplier_of.get(pool_id, "?")]
            cell[0] += in_use
            cell[1] += total
            seen[(b, supplier_of.get(pool_id, "?"))] += 1
        suppliers = sorted({p.supplier for p in pools})
        times = sorted(buckets)
        out: dict[str, list[float | None]] = {s: [] for s in suppliers}
        for b in times:
            for s in suppliers:
                u, t = buckets[b].get(s, (0, 0))
                out[s].append(round(100.0 * u / t, 1) if t else None)
        return {"t": [start + (b + 1) * SERIES_BUCKET for b in times], "suppliers": out}

    def _build(
        self,
        now: float,
        counts: list[tuple[str, str, int, int]],
        states: dict[str, int],
        queue: dict[str, int],
        kinds: dict[str, int],
        pools: list[dashboard.PoolInfo],
        events: list[dict[str, Any]],
        agents: Any,
    ) -> dict[str, Any]:
        families: dict[str, dict[str, Any]] = {}
        domestic = {"domestic": [0, 0], "other": [0, 0]}
        pflops = [0.0, 0.0]
        chips_by_pool: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for pool_id, chip_id, total, in_use in counts:
            model = _chip(chip_id)
            family = model.family if model else "other"
            fam = families.setdefault(
                family,
                {
                    "family": family,
                    "vendor": FAMILIES[family].vendor if family in FAMILIES else family,
                    "domestic": bool(model and model.domestic),
                    "total": 0,
                    "in_use": 0,
                },
            )
            fam["total"] += total
            fam["in_use"] += in_use
            side = domestic["domestic" if model and model.domestic else "other"]
            side[0] += in_use
            side[1] += total
            tflops = model.bf16_tflops if model else 0.0
            pflops[0] += in_use * tflops / 1000
            pflops[1] += total * tflops / 1000
            chips_by_pool[pool_id].append(
                {
                    "chip": chip_id,
                    "name": model.name if model else chip_id,
                    "family": family,
                    "total": total,
                    "in_use": in_use,
                }
            )
        ledger: dict[str, Any] = self._slow.get("ledger", {"available": False})
        tiles: list[dict[str, Any]] = []
        for p in pools:
            chips = sorted(chips_by_pool.get(p.id, []), key=lambda c: -c["total"])
            total = sum(c["total"] for c in chips)
            in_use = sum(c["in_use"] for c in chips)
            age = None if p.last_seen is None else max(0.0, now - p.last_seen)
            tiles.append(
                {
                    "id": p.id,
                    "name": p.name,
                    "supplier": p.supplier,
                    "region": p.region,
                    "chips": chips,
                    "total": total,
                    "in_use": in_use,
                    "util": round(100.0 * in_use / total, 1) if total else 0.0,
                    "queue": queue.get(p.id, 0),
                    "agents": p.agents,
                    "heartbeat_age": None if age is None else round(age, 1),
                    "health": _health(age, self.lease_seconds),
                    # Cheapest current price on the pool, in fen per accelerator-hour.
                    "price_fen": ledger.get("pool_price_fen", {}).get(p.id),
                }
            )
        by_supplier: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for tile in tiles:
            by_supplier[tile["supplier"]][0] += tile["in_use"]
            by_supplier[tile["supplier"]][1] += tile["total"]
        running = sum(states.get(s, 0) for s in ("SCHEDULED", "STARTING", "RUNNING"))
        queued = sum(states.get(s, 0) for s in ("PENDING", "ADMITTED"))
        total_dev = sum(f["total"] for f in families.values())
        in_use_dev = sum(f["in_use"] for f in families.values())
        return {
            "at": now,
            "totals": {
                "accelerators": {"total": total_dev, "in_use": in_use_dev},
                "families": sorted(families.values(), key=lambda f: -f["total"]),
                "pflops_in_use": round(pflops[0], 2),
                "pflops_total": round(pflops[1], 2),
                "jobs_running": running,
                "jobs_queued": queued,
                "jobs_done": states.get("SUCCEEDED", 0),
                "tenants_today": self._slow.get("tenants_today", 0),
            },
            "pools": tiles,
            "kinds": kinds,
            "domestic": {k: {"in_use": v[0], "total": v[1]} for k, v in domestic.items()},
            "events": _ticker(events, pools, agents, now, self.lease_seconds),
            "series": self._slow.get("series", {"t": [], "suppliers": {}}),
            # The 24 h chart's live end point, per supplier (percent of devices in use).
            "util_now": {
                s: round(100.0 * u / t, 1) if t else None for s, (u, t) in by_supplier.items()
            },
            "ledger": {k: v for k, v in ledger.items() if k != "pool_price_fen"},
        }


def _health(age: float | None, lease: float) -> str:
    if age is None:
        return "none"
    if age <= lease:
        return "ok"
    return "late" if age <= 3 * lease else "lost"


def _ticker(
    events: list[dict[str, Any]],
    pools: list[dashboard.PoolInfo],
    agents: Any,
    now: float,
    lease: float,
) -> list[dict[str, Any]]:
    """Job moves plus pool and agent events, newest first. No tenant or job names: the wall is
    public, so it shows job kind, a short id and the pool."""
    items: list[dict[str, Any]] = []
    for e in events:
        kind = TICKER_MOVES.get(e["to"])
        if e["from"] is None:
            kind = "job_submitted"
        if kind is None:
            continue
        items.append(
            {
                "at": e["at"],
                "type": kind,
                "job_id": e["job_id"],
                "job": e["job_id"][-6:],
                "kind": e["kind"],
                "pool": e["pool"],
            }
        )
    pool_name = {p.id: p.name for p in pools}
    for agent in agents:
        if now - agent.registered_at < DAY:
            items.append(
                {
                    "at": agent.registered_at,
                    "type": "pool_joined",
                    "pool": pool_name.get(agent.pool_id),
                }
            )
        if now - agent.last_seen > lease:
            items.append(
                {
                    "at": agent.last_seen + lease,
                    "type": "agent_lost",
                    "pool": pool_name.get(agent.pool_id),
                    "agent": agent.name,
                }
            )
    items.sort(key=lambda i: -i["at"])
    return items[:20]


def hub_for(app: Any) -> WallHub:
    """The app's one hub, made and started on first use."""
    hub: WallHub | None = getattr(app.state, "wall_hub", None)
    if hub is None:
        platform = app.state.platform
        hub = WallHub(platform.db, platform.clock, platform.settings.lease_seconds)
        app.state.wall_hub = hub
        hub.start()
    return hub


def stop_hub(app: Any) -> None:
    hub: WallHub | None = getattr(app.state, "wall_hub", None)
    if hub is not None:
        with contextlib.suppress(Exception):
            hub.stop()
