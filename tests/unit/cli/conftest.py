"""CLI test helpers: run the Typer app in-process against an ``httpx.MockTransport``.

Every request the CLI sends is recorded, so a test can assert that bad input never left the
machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from huangpu.cli.context import CliOptions
from huangpu.cli.main import app

Route = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServer:
    """Routes keyed by (method, path); unknown routes answer 404 in the API's error shape."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        self.routes[(method, path)] = lambda _req: httpx.Response(status, json=body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            error = {"code": "not_found", "message": "no such route", "field": None}
            return httpx.Response(404, json={"error": error})
        return route(request)

    @staticmethod
    def job_view(
        job_id: str = "job_01TEST", state: str = "PENDING", **extra: Any
    ) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": job_id,
            "org_id": "org_1",
            "org": "deepblue-ai",
            "name": "train-tiny",
            "kind": "train",
            "state": state,
            "pool_id": None,
            "pool": None,
            "attempt": 0,
            "created_at": 1_700_000_000.0,
            "updated_at": 1_700_000_001.0,
            "exit_code": None,
            "reason": None,
            "devices": [],
            "spec": {"name": "train-tiny", "command": "true", "resources": {"chips": ["any"]}},
        }
        view.update(extra)
        return view

    def json_bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    # An empty home: no operator.token to fall back on, no huangpu.toml.
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def invoke(server: FakeServer, home: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: str, transport: httpx.BaseTransport | None = None) -> Result:
        options = CliOptions(transport=transport or httpx.MockTransport(server.handler))
        env = {
            "HUANGPU_HOME": str(home),
            "HUANGPU_TOKEN": "test-token",
            "HUANGPU_SERVER_URL": "http://huangpu.test",
            "COLUMNS": "200",
        }
        return runner.invoke(app, list(args), obj=options, env=env)

    return run
