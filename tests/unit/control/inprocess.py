"""The server side of the platform in one process, for control tests: a real database, the
HTTP app through ``TestClient``, the scheduler, a manual clock and an operator token. Agents
are spoken for by hand; no agent process runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from huangpu.api.app import build_platform, create_app
from huangpu.control.loop import Scheduler
from huangpu.core.clock import ManualClock
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import Database, connect

LEASE = 10.0


class InProcessPlatform:
    def __init__(self, tmp: Path, db_url: str | None = None, lease: float = LEASE) -> None:
        self.clock = ManualClock()
        self.settings = Settings(
            home=tmp, database_url=db_url, lease_seconds=lease, poll_timeout_seconds=0
        )
        self.db: Database = connect(self.settings.db_url)
        self.client = TestClient(create_app(build_platform(self.settings, self.db, self.clock)))
        self.scheduler = Scheduler(self.db, self.clock, lease, "first-fit")
        with self.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "t", 0).secret

    def post(self, path: str, token: str | None, body: Any, status: int | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.client.post(path, json=body, headers=headers)
        if status is None:
            assert r.status_code < 300, r.text
        else:
            assert r.status_code == status, r.text
        return r.json()
