"""The authorisation matrix (issue 9): every route of the app, called as every kind of caller,
gets the outcome huangpu.api.access.POLICY says.

Callers: anonymous, a tenant of org A, a tenant of org B, the agent of pool P, the agent of
pool Q, an operator. Each call aims at org A's objects and pool P's agent, so a caller that
is let in but scoped elsewhere (tenant B, agent Q) must not reach them: it gets 401/403/404,
a redirect to sign in, or a response without org A's data.

A route with no entry in the table, or no request recipe here, fails the test by name.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Route

from huangpu.api.access import POLICY, Scope, rule_for
from huangpu.api.app import build_platform, create_app
from huangpu.control.ledger_service import LedgerService
from huangpu.core.clock import ManualClock
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import Database, connect
from huangpu.store.models import JobRow

CALLERS = {
    "anonymous": "anonymous",
    "tenant_a": "tenant",
    "tenant_b": "tenant",
    "agent_p": "agent",
    "agent_q": "agent",
    "operator": "operator",
}
# Callers whose role is let in but who are scoped away from org A / pool P.
OUT_OF_SCOPE = {Scope.ORG: "tenant_b", Scope.POOL: "agent_q"}


@dataclass
class Call:
    method: str
    url: str
    json: Any = None
    form: dict[str, str] | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    # For scoped routes that answer 2xx either way: did the response reach org A / pool P?
    reached: Callable[[httpx.Response, str], bool] | None = None


def all_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route, HEAD aside (it rides on GET)."""
    try:  # FastAPI >= 0.16x wraps included routers; older versions list routes flat
        from fastapi.routing import iter_route_contexts

        routes = [c.route for c in iter_route_contexts(app.routes)]
    except ImportError:
        routes = list(app.routes)
    found = set()
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    return sorted(found)


class World:
    def __init__(self, tmp: Path, url: str) -> None:
        self.clock = ManualClock()
        settings = Settings(home=tmp, database_url=url, lease_seconds=30, poll_timeout_seconds=0)
        self.db: Database = connect(settings.db_url)
        self.app = create_app(build_platform(settings, self.db, self.clock))
        self.client = TestClient(self.app, follow_redirects=False)
        self.n = itertools.count()
        with self.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "op", 0).secret
        self.must("POST", "/v1/orgs", self.op, {"name": "org-a", "category": "startup"})
        self.must("POST", "/v1/orgs", self.op, {"name": "org-b"})
        self.must("POST", "/v1/suppliers", self.op, {"name": "sup"})
        self.tokens = {"operator": self.op}
        for org, who in (("org-a", "tenant_a"), ("org-b", "tenant_b")):
            body = {"role": "tenant", "org": org}
            self.tokens[who] = self.must("POST", "/v1/tokens", self.op, body)["token"]
        self.agent_ids: dict[str, str] = {}
        for pool, who in (("pool-p", "agent_p"), ("pool-q", "agent_q")):
            body = {"name": pool, "supplier": "sup", "region": "sh"}
            self.must("POST", "/v1/pools", self.op, body)
            token = self.must("POST", "/v1/tokens", self.op, {"role": "agent", "pool": pool})
            self.tokens[who] = token["token"]
            reg = self.must("POST", "/v1/agent/register", token["token"], self.register_body())
            self.agent_ids[who] = reg["agent_id"]
        self.org_a = self.must("GET", "/v1/orgs", self.op)[0]["id"]
        self.job_a = self.new_job_a()
        self.seq = itertools.count(1)
        LedgerService(self.db, self.clock).create_program(
            "t", {**PROGRAM, "id": "p0", "name": "p0"}
        )

    def must(self, method: str, url: str, token: str, body: Any = None) -> Any:
        r = self.client.request(
            method, url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code < 300, (url, r.status_code, r.text)
        return r.json()

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.n)}"

    def register_body(self) -> dict[str, Any]:
        devices = [{"index": i, "chip": "a100", "memory_gib": 80} for i in range(8)]
        return {"agent_name": self.unique("agent"), "nodes": [{"name": "n0", "devices": devices}]}

    def new_job_a(self) -> str:
        spec = {"name": self.unique("job"), "command": "true", "resources": {"chips": ["a100"]}}
        return str(self.must("POST", "/v1/jobs", self.tokens["tenant_a"], {"spec": spec})["id"])

    def job_org(self, job_id: str) -> str | None:
        with self.db.read() as s:
            return s.scalar(select(JobRow.org_id).where(JobRow.id == job_id))


PROGRAM = {
    "funder": "city",
    "kind": "compute",
    "rate_bp_domestic": 3000,
    "rate_bp_other": 2000,
    "program_budget_fen": 1_000_000,
    "per_tenant_cap_fen": 100_000,
}


def _has_org_a(r: httpx.Response, org_a: str) -> bool:
    return org_a in r.text


def _spec(w: World) -> dict[str, Any]:
    return {"name": w.unique("j"), "command": "true", "resources": {"chips": ["a100"]}}


def _console_submit_reached(w: World) -> Callable[[httpx.Response, str], bool]:
    def reached(r: httpx.Response, org_a: str) -> bool:
        location = r.headers.get("location", "")
        return (
            location.startswith("/console/jobs/") and w.job_org(location.rsplit("/")[-1]) == org_a
        )

    return reached


def _revocable(w: World) -> str:
    with w.db.write() as s:
        return registry.create_token(s, "tenant", w.org_a, None, "x", 0).row.id


def _program(w: World) -> str:
    pid = w.unique("prog")
    LedgerService(w.db, w.clock).create_program("t", {**PROGRAM, "id": pid, "name": pid})
    return pid


def _later(w: World) -> float:
    return w.clock.now() + 3600 * (1 + next(w.n))


# One request recipe per route, aimed at org A's objects and pool P's agent.
RECIPES: dict[tuple[str, str], Callable[[World], Call]] = {
    ("GET", "/openapi.json"): lambda w: Call("GET", "/openapi.json"),
    ("GET", "/docs"): lambda w: Call("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"): lambda w: Call("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"): lambda w: Call("GET", "/redoc"),
    ("GET", "/healthz"): lambda w: Call("GET", "/healthz"),
    ("GET", "/metrics"): lambda w: Call("GET", "/metrics"),
    ("GET", "/v1/chips"): lambda w: Call("GET", "/v1/chips"),
    ("GET", "/v1/schema/jobspec"): lambda w: Call("GET", "/v1/schema/jobspec"),
    ("GET", "/v1/whoami"): lambda w: Call("GET", "/v1/whoami"),
    ("GET", "/v1/pools"): lambda w: Call("GET", "/v1/pools"),
    ("GET", "/v1/prices"): lambda w: Call("GET", "/v1/prices"),
    ("GET", "/v1/platform-fee"): lambda w: Call("GET", "/v1/platform-fee"),
    ("POST", "/v1/orgs"): lambda w: Call("POST", "/v1/orgs", {"name": w.unique("org")}),
    ("GET", "/v1/orgs"): lambda w: Call("GET", "/v1/orgs"),
    ("POST", "/v1/suppliers"): lambda w: Call("POST", "/v1/suppliers", {"name": w.unique("s")}),
    ("GET", "/v1/suppliers"): lambda w: Call("GET", "/v1/suppliers"),
    ("POST", "/v1/pools"): lambda w: Call(
        "POST", "/v1/pools", {"name": w.unique("pool"), "supplier": "sup", "region": "sh"}
    ),
    ("POST", "/v1/tokens"): lambda w: Call(
        "POST", "/v1/tokens", {"role": "tenant", "org": "org-a"}
    ),
    ("GET", "/v1/tokens"): lambda w: Call("GET", "/v1/tokens"),
    ("POST", "/v1/tokens/{token_id}/revoke"): lambda w: Call(
        "POST", f"/v1/tokens/{_revocable(w)}/revoke"
    ),
    ("POST", "/v1/prices"): lambda w: Call(
        "POST",
        "/v1/prices",
        {"pool": "pool-p", "chip": "a100", "fen_per_hour": 1000, "effective_from": _later(w)},
    ),
    ("POST", "/v1/platform-fee"): lambda w: Call(
        "POST", "/v1/platform-fee", {"fee_bp": 500, "effective_from": _later(w)}
    ),
    ("POST", "/v1/vouchers/programs"): lambda w: Call(
        "POST", "/v1/vouchers/programs", {**PROGRAM, "id": w.unique("p"), "name": "p"}
    ),
    ("GET", "/v1/vouchers/programs"): lambda w: Call("GET", "/v1/vouchers/programs"),
    ("POST", "/v1/vouchers/grants"): lambda w: Call(
        "POST", "/v1/vouchers/grants", {"program": _program(w), "org": "org-a"}
    ),
    ("POST", "/v1/orgs/{org}/topups"): lambda w: Call(
        "POST", "/v1/orgs/org-a/topups", {"amount_fen": 1000}
    ),
    ("POST", "/v1/orgs/{org}/credit-line"): lambda w: Call(
        "POST", "/v1/orgs/org-a/credit-line", {"limit_fen": 1000}
    ),
    ("GET", "/v1/settlements/{quarter}"): lambda w: Call("GET", "/v1/settlements/2025Q4"),
    ("POST", "/v1/quotas"): lambda w: Call(
        "POST", "/v1/quotas", {"org": "org-a", "family": "nvidia", "nominal": 8}
    ),
    ("GET", "/v1/quotas"): lambda w: Call("GET", "/v1/quotas"),
    ("POST", "/v1/jobs"): lambda w: Call(
        "POST", "/v1/jobs", {"spec": _spec(w), "org": "org-a"}, reached=_has_org_a
    ),
    ("POST", "/v1/jobs:batch"): lambda w: Call(
        "POST", "/v1/jobs:batch", {"jobs": [_spec(w)], "org": "org-a"}, reached=_has_org_a
    ),
    ("GET", "/v1/jobs"): lambda w: Call("GET", "/v1/jobs", reached=_has_org_a),
    ("GET", "/v1/jobs/{job_id}"): lambda w: Call("GET", f"/v1/jobs/{w.job_a}"),
    ("GET", "/v1/jobs/{job_id}/logs"): lambda w: Call("GET", f"/v1/jobs/{w.job_a}/logs"),
    ("POST", "/v1/jobs/{job_id}/cancel"): lambda w: Call(
        "POST", f"/v1/jobs/{w.new_job_a()}/cancel"
    ),
    ("GET", "/v1/bills/{month}"): lambda w: Call("GET", "/v1/bills/2025-11?org=org-a"),
    ("GET", "/v1/balances"): lambda w: Call("GET", "/v1/balances?org=org-a"),
    ("POST", "/v1/budgets"): lambda w: Call(
        "POST", "/v1/budgets", {"org": "org-a", "monthly_fen": 100_000}
    ),
    ("GET", "/v1/budgets"): lambda w: Call("GET", "/v1/budgets?org=org-a"),
    ("GET", "/v1/stream/jobs"): lambda w: Call(
        "GET", "/v1/stream/jobs", stream=True, reached=_lists_org_a_jobs(w)
    ),
    ("GET", "/v1/stream/jobs/{job_id}"): lambda w: Call(
        "GET", f"/v1/stream/jobs/{w.job_a}", stream=True
    ),
    ("POST", "/v1/agent/register"): lambda w: Call("POST", "/v1/agent/register", w.register_body()),
    ("POST", "/v1/agent/poll"): lambda w: Call(
        "POST", "/v1/agent/poll", {"agent_id": w.agent_ids["agent_p"], "wait_seconds": 0}
    ),
    ("POST", "/v1/agent/report"): lambda w: Call(
        "POST",
        "/v1/agent/report",
        {"agent_id": w.agent_ids["agent_p"], "seq": next(w.seq), "events": []},
    ),
    ("GET", "/"): lambda w: Call("GET", "/"),
    ("GET", "/static/{path:path}"): lambda w: Call("GET", "/static/css/wall.css"),
    ("GET", "/wall"): lambda w: Call("GET", "/wall"),
    ("GET", "/v1/stream/wall"): lambda w: Call("GET", "/v1/stream/wall", stream=True),
    ("GET", "/login"): lambda w: Call("GET", "/login"),
    ("POST", "/login"): lambda w: Call(
        "POST", "/login", form={"csrf": "c", "token": w.op}, cookies={"hp_login_csrf": "c"}
    ),
    ("POST", "/logout"): lambda w: Call("POST", "/logout", form={}),
    ("GET", "/console"): lambda w: Call("GET", "/console", reached=_has_org_a_job(w)),
    ("POST", "/console/jobs"): lambda w: Call(
        "POST",
        "/console/jobs",
        form={"name": w.unique("c"), "command": "true", "chips": "a100"},
        reached=_console_submit_reached(w),
    ),
    ("GET", "/console/jobs/{job_id}"): lambda w: Call("GET", f"/console/jobs/{w.job_a}"),
    ("POST", "/console/jobs/{job_id}/cancel"): lambda w: Call(
        "POST", f"/console/jobs/{w.new_job_a()}/cancel", form={}
    ),
    ("GET", "/ops"): lambda w: Call("GET", "/ops"),
    ("POST", "/ops/{noun}"): lambda w: Call("POST", "/ops/orgs", form={"name": w.unique("o")}),
    ("POST", "/ops/tokens/{token_id}/revoke"): lambda w: Call(
        "POST", f"/ops/tokens/{_revocable(w)}/revoke", form={}
    ),
    ("POST", "/ops/ledger/programs"): lambda w: Call(
        "POST",
        "/ops/ledger/programs",
        form={"body": json.dumps({**PROGRAM, "id": w.unique("w"), "name": "w"})},
    ),
}


def _lists_org_a_jobs(w: World) -> Callable[[httpx.Response, str], bool]:
    def reached(r: httpx.Response, org_a: str) -> bool:
        jobs = json.loads(r.text.removeprefix("data:")) if r.text else []
        return any(w.job_org(job["id"]) == org_a for job in jobs)

    return reached


def _has_org_a_job(w: World) -> Callable[[httpx.Response, str], bool]:
    return lambda r, _org: w.job_a in r.text


def _denied(r: httpx.Response) -> bool:
    if r.status_code in (401, 403, 404):
        return True
    # Web pages send strangers to sign in. (Operators sent from the tenant console to /ops
    # are caught by those routes' ``reached`` checks.)
    return r.is_redirect and r.headers.get("location", "").startswith("/login?next=")


def _send(w: World, call: Call, caller: str) -> httpx.Response:
    headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {w.tokens[caller]}"}
    w.client.cookies.clear()
    for k, v in call.cookies.items():
        w.client.cookies.set(k, v)
    kwargs: dict[str, Any] = {"headers": headers}
    if call.json is not None:
        kwargs["json"] = call.json
    if call.form is not None:
        kwargs["data"] = call.form
    if not call.stream:
        return w.client.request(call.method, call.url, **kwargs)
    with w.client.stream(call.method, call.url, **kwargs) as r:
        text = ""
        if r.status_code == 200:
            for line in r.iter_lines():  # up to the first event's data
                if line.startswith("data:"):
                    text = line
                    break
        return httpx.Response(r.status_code, headers=r.headers, text=text)


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, database_url)
    yield w
    w.client.close()
    w.db.dispose()


def test_every_route_has_a_policy_and_a_recipe(world: World) -> None:
    routes = all_routes(world.app)
    missing_policy = [r for r in routes if rule_for(*r) is None]
    missing_recipe = [r for r in routes if r not in RECIPES]
    stale = sorted(set(POLICY) - set(routes))
    assert not missing_policy, f"routes with no entry in huangpu/api/access.py: {missing_policy}"
    assert not missing_recipe, f"routes with no request recipe in this test: {missing_recipe}"
    assert not stale, f"policy entries for routes that do not exist: {stale}"


def test_every_route_allows_and_denies_as_the_policy_says(world: World) -> None:
    failures = []
    for method, path in all_routes(world.app):
        rule = rule_for(method, path)
        recipe = RECIPES.get((method, path))
        if rule is None or recipe is None:
            continue  # reported by the test above
        for caller, role in CALLERS.items():
            expected = rule.allows(role) and OUT_OF_SCOPE.get(rule.scope) != caller
            call = recipe(world)
            r = _send(world, call, caller)
            if _denied(r) or r.status_code >= 400:
                got = False
            else:
                got = call.reached(r, world.org_a) if call.reached is not None else True
            if got != expected:
                failures.append(
                    f"{method} {path} as {caller}: expected {'allow' if expected else 'deny'}, "
                    f"got {r.status_code} {r.text[:160]!r}"
                )
    assert not failures, "\n".join(failures)
