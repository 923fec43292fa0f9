"""The API in-process (TestClient) on a given database URL, with a manual clock: an operator
token, and helpers to add orgs with tenant tokens and pools with a registered agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from huangpu.api.app import build_platform, create_app
from huangpu.core.clock import ManualClock
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import Database, connect
from huangpu.store.models import Base


class InProcessApi:
    def __init__(self, home: Path, database_url: str, **settings: Any) -> None:
        self.clock = ManualClock()
        self.settings = Settings(
            home=home,
            database_url=database_url,
            lease_seconds=30,
            poll_timeout_seconds=0,
            **settings,
        )
        self.db: Database = connect(self.settings.db_url)
        self.platform = build_platform(self.settings, self.db, self.clock)
        self.app = create_app(self.platform)
        self.client = TestClient(self.app, follow_redirects=False)
        with self.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "op", 0).secret
        self.agents: dict[str, tuple[str, str]] = {}
        self.tenant: str | None = None  # a test's default tenant token, when it sets one

    def close(self) -> None:
        self.client.close()
        self.platform.jobs.queue.close()
        self.db.dispose()

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, url: str, token: str | None = None, **kw: Any) -> Any:
        headers = {**self.auth(token), **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)

    def ok(self, method: str, url: str, token: str | None = None, **kw: Any) -> Any:
        r = self.call(method, url, token, **kw)
        assert r.status_code < 300, (method, url, r.status_code, r.text)
        return r.json()

    def add_org(self, name: str) -> str:
        """Create an org; returns a tenant token for it."""
        self.ok("POST", "/v1/orgs", self.op, json={"name": name})
        body = {"role": "tenant", "org": name}
        return str(self.ok("POST", "/v1/tokens", self.op, json=body)["token"])

    def add_pool(self, name: str, chip: str = "a100", devices: int = 8) -> str:
        """Create a pool (and its supplier) with one registered agent; returns the agent token."""
        supplier = f"{name}-sup"
        self.ok("POST", "/v1/suppliers", self.op, json={"name": supplier})
        pool = {"name": name, "supplier": supplier, "region": "sh"}
        self.ok("POST", "/v1/pools", self.op, json=pool)
        token = str(
            self.ok("POST", "/v1/tokens", self.op, json={"role": "agent", "pool": name})["token"]
        )
        devs = [{"index": i, "chip": chip, "memory_gib": 80} for i in range(devices)]
        body = {"agent_name": f"{name}-agent", "nodes": [{"name": f"{name}-n0", "devices": devs}]}
        reg = self.ok("POST", "/v1/agent/register", token, json=body)
        self.agents[name] = (token, reg["agent_id"])
        return token

    def row_counts(self) -> dict[str, int]:
        """Rows per table: a request that must change nothing leaves this equal."""
        with self.db.read() as s:
            names = set(inspect(s.get_bind()).get_table_names())
            return {
                t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables
                if t.name in names
            }
