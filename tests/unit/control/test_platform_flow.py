"""The whole server-side flow in one process: API + scheduler + reaper on a real SQLite file,
with a manual clock and the agent protocol spoken by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from huangpu.core.states import can_move
from huangpu.store.models import AllocationRow, JobRow
from tests.unit.control.inprocess import LEASE, InProcessPlatform


class World(InProcessPlatform):
    def __init__(self, tmp: Path, db_url: str | None) -> None:
        super().__init__(tmp, db_url)
        self.post("/v1/orgs", self.op, {"name": "acme", "category": "startup"})
        self.post("/v1/orgs", self.op, {"name": "other"})
        self.post("/v1/suppliers", self.op, {"name": "telecom"})
        self.tenant = self.post("/v1/tokens", self.op, {"role": "tenant", "org": "acme"})["token"]
        self.stranger = self.post("/v1/tokens", self.op, {"role": "tenant", "org": "other"})[
            "token"
        ]
        self.agents: dict[str, tuple[str, str]] = {}
        for pool, chip in (("p-a100", "A100"), ("p-910b", "910B")):
            self.post("/v1/pools", self.op, {"name": pool, "supplier": "telecom", "region": "sh"})
            token = self.post("/v1/tokens", self.op, {"role": "agent", "pool": pool})["token"]
            nodes = [
                {
                    "name": f"{pool}-n0",
                    "devices": [
                        {
                            "index": i,
                            "chip": chip.lower() if chip == "A100" else "910b2",
                            "memory_gib": 80 if chip == "A100" else 64,
                        }
                        for i in range(8)
                    ],
                }
            ]
            reg = self.post("/v1/agent/register", token, {"agent_name": "a1", "nodes": nodes})
            self.agents[pool] = (token, reg["agent_id"])

    def get(self, path: str, token: str, status: int = 200) -> Any:
        r = self.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == status, r.text
        return r.json()

    def poll(self, pool: str, running: list[dict[str, Any]] | None = None) -> Any:
        token, agent_id = self.agents[pool]
        return self.post(
            "/v1/agent/poll",
            token,
            {"agent_id": agent_id, "running": running or [], "wait_seconds": 0},
        )

    def report(self, pool: str, seq: int, events: list[dict[str, Any]]) -> Any:
        token, agent_id = self.agents[pool]
        return self.post(
            "/v1/agent/report", token, {"agent_id": agent_id, "seq": seq, "events": events}
        )

    def submit(self, **spec: Any) -> str:
        body = {"name": "job", "command": "echo hi", **spec}
        return str(self.post("/v1/jobs", self.tenant, {"spec": body})["id"])

    def job_count(self) -> int:
        with self.db.read() as s:
            return int(s.scalar(select(func.count()).select_from(JobRow)) or 0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The same flow on a SQLite file and on a fresh database in a real PostgreSQL."""
    if request.param == "sqlite":
        w = World(tmp_path, None)
        yield w
        w.db.dispose()
        return
    server_url = request.getfixturevalue("pg_url")
    name = f"flow_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    w = World(tmp_path, server_url.rsplit("/", 1)[0] + f"/{name}")
    yield w
    w.db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_job_runs_to_success_with_logs_and_legal_history(world: World) -> None:
    job = world.submit(resources={"chips": ["910B"], "accelerators": 4})
    assert world.scheduler.run_once().applied == 1
    lease = world.poll("p-910b")["leases"][0]
    assert lease["visibility_env"] == {"ASCEND_RT_VISIBLE_DEVICES": "0,1,2,3"}
    ref = {"job_id": job, "attempt": lease["attempt"]}
    world.report(
        "p-910b",
        1,
        [
            {**ref, "kind": "started", "engine_id": "local:1", "at": 1.0},
            {**ref, "kind": "log", "offset": 0, "data": "hello\n"},
        ],
    )
    world.report(
        "p-910b", 2, [{**ref, "kind": "exited", "outcome": "succeeded", "exit_code": 0, "at": 2.0}]
    )
    detail = world.get(f"/v1/jobs/{job}", world.tenant)
    assert detail["state"] == "SUCCEEDED"
    assert world.get(f"/v1/jobs/{job}/logs", world.tenant)["data"] == "hello\n"
    moves = [(h["from_state"], h["to_state"]) for h in detail["history"]]
    assert moves[0] == (None, "PENDING")
    from huangpu.core.states import JobState

    assert all(can_move(JobState(a), JobState(b)) for a, b in moves[1:])
    with world.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AllocationRow)) == 0


def test_repeated_report_is_ignored(world: World) -> None:
    job = world.submit()
    world.scheduler.run_once()
    pool = next(p for p in world.agents if world.poll(p)["leases"])
    ref = {"job_id": job, "attempt": 1}
    log_event = {**ref, "kind": "log", "offset": 0, "data": "once\n"}
    assert not world.report(pool, 1, [log_event])["duplicate"]
    assert world.report(pool, 1, [log_event])["duplicate"]
    assert world.get(f"/v1/jobs/{job}/logs", world.tenant)["data"] == "once\n"


def test_lost_lease_requeues_onto_other_pool_and_old_agent_is_told_to_stop(
    world: World,
) -> None:
    job = world.submit(resources={"chips": ["any"]})
    world.scheduler.run_once()
    first = next(p for p in world.agents if world.poll(p)["leases"])
    other = next(p for p in world.agents if p != first)
    world.clock.advance(LEASE + 1)
    world.poll(other)  # the other agent keeps heartbeating; the first is silent
    world.scheduler.run_once()  # reaps (LOST -> PENDING), the next cycle places again
    world.scheduler.run_once()
    lease = world.poll(other)["leases"][0]
    assert lease["attempt"] == 2
    stale = world.poll(first, [{"job_id": job, "attempt": 1}])
    assert stale["stop"] == [{"job_id": job, "attempt": 1}]
    states = [h["to_state"] for h in world.get(f"/v1/jobs/{job}", world.tenant)["history"]]
    assert "LOST" in states and states.count("PENDING") == 2


def test_cancel_running_job_goes_through_agent(world: World) -> None:
    job = world.submit()
    world.scheduler.run_once()
    pool = next(p for p in world.agents if world.poll(p)["leases"])
    ref = {"job_id": job, "attempt": 1}
    world.report(pool, 1, [{**ref, "kind": "started", "engine_id": "x", "at": 1.0}])
    assert world.post(f"/v1/jobs/{job}/cancel", world.tenant, {})["state"] == "RUNNING"
    assert world.poll(pool, [ref])["cancel"] == [ref]
    world.report(pool, 2, [{**ref, "kind": "exited", "outcome": "cancelled", "at": 2.0}])
    assert world.get(f"/v1/jobs/{job}", world.tenant)["state"] == "CANCELLED"
    world.post(f"/v1/jobs/{job}/cancel", world.tenant, {}, status=409)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "x", "command": "c", "colour": "red"}, "spec.colour"),
        ({"name": "x", "command": "c", "resources": {"chips": ["A10O"]}}, "resources.chips[0]"),
        (
            {"name": "x", "command": "c", "resources": {"accelerators": 0}},
            "spec.resources.accelerators",
        ),
        (
            {"name": "x", "command": "c", "resources": {"accelerators": 64}},
            "resources.accelerators",
        ),
        ({"name": "x", "command": "c", "resources": {"nodes": 3}}, "resources.nodes"),
        (
            {"name": "x", "command": "c", "resources": {"min_memory_gib": 100}},
            "resources.min_memory_gib",
        ),
        ({"name": "x", "command": "c", "resources": {"chips": ["mlu370"]}}, "resources.chips"),
        ({"command": "c"}, "spec.name"),
    ],
)
def test_bad_submissions_get_422_naming_the_field_and_write_nothing(
    world: World, spec: dict[str, Any], field: str
) -> None:
    before = world.job_count()
    body = world.post("/v1/jobs", world.tenant, {"spec": spec}, status=422)
    assert body["error"]["field"] == field
    assert world.job_count() == before


def test_did_you_mean_for_chip_names(world: World) -> None:
    body = world.post(
        "/v1/jobs",
        world.tenant,
        {"spec": {"name": "x", "command": "c", "resources": {"chips": ["A10O"]}}},
        status=422,
    )
    assert "Did you mean a100" in body["error"]["message"]


def test_auth_errors(world: World) -> None:
    world.post("/v1/jobs", None, {"spec": {"name": "x", "command": "c"}}, status=401)
    world.post("/v1/jobs", "hp_wrong", {"spec": {"name": "x", "command": "c"}}, status=401)
    world.post("/v1/orgs", world.tenant, {"name": "evil"}, status=403)
    agent_token = world.agents["p-a100"][0]
    world.post("/v1/jobs", agent_token, {"spec": {"name": "x", "command": "c"}}, status=403)
    job = world.submit()
    world.get(f"/v1/jobs/{job}", world.stranger, status=404)
    assert world.get("/v1/jobs", world.stranger) == []


def test_agent_cannot_use_another_pools_agent_id(world: World) -> None:
    token, _ = world.agents["p-a100"]
    _, foreign = world.agents["p-910b"]
    world.post("/v1/agent/poll", token, {"agent_id": foreign, "wait_seconds": 0}, status=403)


def test_metrics_and_health(world: World) -> None:
    world.submit()
    assert world.client.get("/healthz").json()["status"] == "ok"
    text = world.client.get("/metrics").text
    assert 'huangpu_jobs{state="PENDING"} 1.0' in text
