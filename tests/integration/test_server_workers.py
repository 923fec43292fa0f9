"""``server_workers``: several server processes on one port (PostgreSQL), stopped together;
on SQLite the setting falls back to one process."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest

from huangpu.agent.executors.local import pid_alive
from huangpu.testing.builders import job_spec
from huangpu.testing.databases import fresh_database
from huangpu.testing.processes import ApiClient, ServerProcess, descendants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
WORKERS = {"HUANGPU_SERVER_WORKERS": "2"}


@pytest.mark.postgres
def test_two_workers_serve_one_port_and_stop_together(pg_url: str) -> None:
    with contextlib.contextmanager(fresh_database)(
        "postgres", Path(tempfile.gettempdir()), pg_url
    ) as url:
        server = ServerProcess(database_url=url, env=WORKERS)
        server.start()
        try:
            workers = descendants(server.pid)
            assert len(workers) == 2, server.log_tail()
            with ApiClient(server.url, server.operator_token) as api:
                api.create_org("acme")
                token = str(api.create_token("tenant", org="acme")["token"])
                api.create_supplier("sup")
                for i in range(5):
                    api.create_pool(f"p{i}", "sup")
            # New connections, answered by whichever worker accepts them: all see one store.
            for _ in range(4):
                with ApiClient(server.url, server.operator_token) as api:
                    assert len(api.pools()) == 5
            with ApiClient(server.url, server.operator_token) as api:
                resp = api.request(
                    "POST",
                    "/v1/jobs:batch",
                    token=token,
                    json={"jobs": [job_spec(f"j{i}", "true") for i in range(5)]},
                )
                # No agent has registered devices: refused by the capacity check, in full.
                assert resp.status_code == 422, resp.text
                assert api.jobs(token) == []
        finally:
            code = server.stop()
        assert code == 0, server.log_tail()
        assert not any(pid_alive(pid) for pid in workers)


def test_sqlite_serves_with_one_process() -> None:
    server = ServerProcess(env=WORKERS)
    server.start()
    try:
        assert descendants(server.pid) == set()
        assert "server_workers=2 ignored" in server.log_tail()
    finally:
        server.stop()
