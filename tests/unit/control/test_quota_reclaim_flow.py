"""Quotas from the store reach the live scheduler, and a reclaim preempts a borrower end to end:
API + scheduler in one process on SQLite and PostgreSQL, a manual clock, the agent by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from huangpu.api.app import build_platform, create_app
from huangpu.control.loop import Scheduler
from huangpu.core.clock import ManualClock
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import connect

LEASE = 3600.0  # long enough that the agent need not heartbeat while the clock jumps


class City:
    def __init__(self, tmp: Path, url: str) -> None:
        self.clock = ManualClock()
        settings = Settings(home=tmp, database_url=url, lease_seconds=LEASE, poll_timeout_seconds=0)
        self.db = connect(settings.db_url)
        self.client = TestClient(create_app(build_platform(settings, self.db, self.clock)))
        self.scheduler = Scheduler(self.db, self.clock, LEASE, "cost-aware")
        with self.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "t", 0).secret
        self.tokens: dict[str, str] = {}
        for org in ("owner", "borrower"):
            self.post("/v1/orgs", self.op, {"name": org})
            self.tokens[org] = self.post("/v1/tokens", self.op, {"role": "tenant", "org": org})[
                "token"
            ]
        self.post("/v1/suppliers", self.op, {"name": "telecom"})
        self.post("/v1/pools", self.op, {"name": "p1", "supplier": "telecom", "region": "sh"})
        self.agent = self.post("/v1/tokens", self.op, {"role": "agent", "pool": "p1"})["token"]
        devices = [{"index": i, "chip": "a100", "memory_gib": 80} for i in range(8)]
        reg = self.post(
            "/v1/agent/register",
            self.agent,
            {"agent_name": "a1", "nodes": [{"name": "n0", "devices": devices}]},
        )
        self.agent_id = reg["agent_id"]
        self.seq = 0

    def post(self, path: str, token: str, body: Any, status: int | None = None) -> Any:
        r = self.client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code < 300) if status is None else (r.status_code == status), r.text
        return r.json()

    def get(self, path: str, token: str) -> Any:
        r = self.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()

    def submit(self, org: str) -> str:
        spec = {"name": f"{org}-job", "command": "train", "resources": {"accelerators": 8}}
        return str(self.post("/v1/jobs", self.tokens[org], {"spec": spec})["id"])

    def poll(self, running: list[dict[str, Any]], features: list[str]) -> Any:
        body = {"agent_id": self.agent_id, "running": running, "wait_seconds": 0}
        return self.post("/v1/agent/poll", self.agent, body | {"features": features})

    def report(self, *events: dict[str, Any]) -> None:
        self.seq += 1
        body = {"agent_id": self.agent_id, "seq": self.seq, "events": list(events)}
        self.post("/v1/agent/report", self.agent, body)

    def start(self, job: str) -> dict[str, Any]:
        (lease,) = self.poll([], ["preempt"])["leases"]
        assert lease["job_id"] == job
        ref = {"job_id": job, "attempt": lease["attempt"]}
        self.report({**ref, "kind": "started", "engine_id": f"e-{job}", "at": self.clock.now()})
        return ref

    def job(self, job: str, org: str) -> Any:
        return self.get(f"/v1/jobs/{job}", self.tokens[org])


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Iterator[City]:
    c = City(tmp_path, database_url)
    yield c
    c.db.dispose()


def test_quota_routes_validate_and_list(city: City) -> None:
    body = {"org": "owner", "family": "nvidia", "nominal": 8, "lend_limit": 8, "cohort": "sh-ai"}
    got = city.post("/v1/quotas", city.op, body)
    assert (got["org"], got["nominal"], got["borrow_limit"], got["cohort"]) == (
        "owner", 8.0, None, "sh-ai",
    )  # fmt: skip
    for bad, field in (
        ({**body, "family": "nvidai"}, "family"),
        ({**body, "nominal": -1}, "nominal"),
        ({**body, "lend_limit": 9}, "lend_limit"),
        ({**body, "cohort": "a b"}, "cohort"),
        ({**body, "colour": 1}, "colour"),
    ):
        assert city.post("/v1/quotas", city.op, bad, status=422)["error"]["field"] == field
    city.post("/v1/quotas", city.tokens["owner"], body, status=403)
    assert [q["org"] for q in city.get("/v1/quotas", city.op)] == ["owner"]


def test_owner_reclaims_quota_by_preempting_a_borrower_who_resumes_later(city: City) -> None:
    quota = {"family": "nvidia", "cohort": "sh-ai"}
    city.post("/v1/quotas", city.op, {"org": "owner", "nominal": 8, "lend_limit": 8} | quota)
    city.post("/v1/quotas", city.op, {"org": "borrower", "nominal": 0, "borrow_limit": 8} | quota)

    # 1. The borrower runs on the owner's idle quota.
    borrowed = city.submit("borrower")
    assert city.scheduler.run_once().applied == 1
    first = city.start(borrowed)

    # 2. Ten minutes later (past the thrash guard) the owner wants its quota back.
    city.clock.advance(600)
    owned = city.submit("owner")
    report = city.scheduler.run_once()
    assert report.applied == 0
    assert [p.job_key for p in report.result.preemptions] == [borrowed]
    assert "stopped" in city.job(owned, "owner")["reason"]
    assert city.job(borrowed, "borrower")["reason"].startswith(
        "preempted: quota reclaimed by org owner"
    )
    # A second cycle asks nothing twice: the victim is marked not preemptible.
    assert city.scheduler.run_once().result.preemptions == ()

    # 3. An old agent is told to cancel; a new one gets the grace to checkpoint in.
    assert city.poll([first], [])["cancel"] == [first]
    (preempt,) = city.poll([first], ["preempt"])["preempt"]
    assert preempt["grace_seconds"] == 120 and preempt["job_id"] == borrowed
    city.clock.advance(30)  # it checkpoints within its grace
    city.report({**first, "kind": "exited", "outcome": "cancelled", "at": city.clock.now()})
    view = city.job(borrowed, "borrower")
    assert view["state"] == "PENDING"
    moves = [(h["to_state"], h["reason"]) for h in view["history"]][-2:]
    assert moves[0][0] == "PREEMPTED" and "quota reclaimed by org owner" in moves[0][1]
    assert moves[1][0] == "PENDING"

    # 4. The owner starts; the borrower waits, then resumes as attempt 2 when the owner is done.
    assert city.scheduler.run_once().applied == 1
    owner_ref = city.start(owned)
    assert city.job(borrowed, "borrower")["state"] == "PENDING"
    city.report({**owner_ref, "kind": "exited", "outcome": "succeeded", "exit_code": 0,
                 "at": city.clock.now()})  # fmt: skip
    assert city.scheduler.run_once().applied == 1
    again = city.start(borrowed)
    assert again["attempt"] == first["attempt"] + 1
    assert city.job(borrowed, "borrower")["state"] == "RUNNING"


def test_incremental_cycles_skip_waiting_jobs_until_devices_are_freed(city: City) -> None:
    first = city.submit("owner")
    assert city.scheduler.run_once().applied == 1
    ref = city.start(first)
    waiting = city.submit("owner")
    assert city.scheduler.run_once().result.stats.jobs == 1  # nothing freed: only the arrival
    assert city.scheduler.run_once().result.stats.jobs == 0  # it already has its reason
    assert "waiting for capacity" in city.job(waiting, "owner")["reason"]
    city.report({**ref, "kind": "exited", "outcome": "succeeded", "exit_code": 0, "at": 1.0})
    report = city.scheduler.run_once()  # devices came back: a full cycle places it
    assert report.result.stats.jobs == 1 and report.applied == 1
