"""The web pages and streams in-process (TestClient, real SQLite file, manual clock): sessions,
CSRF, org scoping, escaping, audit. The browser tests in tests/e2e cover rendering and JS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from huangpu.api.app import build_platform, create_app
from huangpu.core.clock import ManualClock
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.db import Database, connect
from huangpu.store.models import AuditRow, JobRow
from huangpu.web import STATIC

FORM = {"content-type": "application/x-www-form-urlencoded"}


class Site:
    def __init__(self, tmp: Path, wall_public: bool = True) -> None:
        self.clock = ManualClock()
        settings = Settings(home=tmp, lease_seconds=10, poll_timeout_seconds=0)
        settings.wall_public = wall_public
        self.db: Database = connect(settings.db_url)
        self.app = create_app(build_platform(settings, self.db, self.clock))
        self.client = TestClient(self.app)
        with self.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "t", 0).secret
        h = {"Authorization": f"Bearer {self.op}"}
        for org in ("acme", "other"):
            self.client.post("/v1/orgs", json={"name": org}, headers=h)
        self.client.post("/v1/suppliers", json={"name": "telecom"}, headers=h)
        self.client.post(
            "/v1/pools", json={"name": "p1", "supplier": "telecom", "region": "sh"}, headers=h
        )
        self.tokens = {
            org: self.client.post(
                "/v1/tokens", json={"role": "tenant", "org": org}, headers=h
            ).json()["token"]
            for org in ("acme", "other")
        }
        agent = self.client.post("/v1/tokens", json={"role": "agent", "pool": "p1"}, headers=h)
        self.agent_token = agent.json()["token"]
        devices = [{"index": i, "chip": "a100", "memory_gib": 80} for i in range(8)]
        self.client.post(
            "/v1/agent/register",
            json={"agent_name": "a1", "nodes": [{"name": "n0", "devices": devices}]},
            headers={"Authorization": f"Bearer {self.agent_token}"},
        )

    def login(self, token: str) -> TestClient:
        client = TestClient(self.app)
        page = client.get("/login")
        csrf = csrf_of(page.text)
        r = client.post(
            "/login", content=f"csrf={csrf}&token={token}", headers=FORM, follow_redirects=False
        )
        assert r.status_code == 303, r.text
        return client

    def submit(self, org: str, name: str) -> str:
        r = self.client.post(
            "/v1/jobs",
            json={"spec": {"name": name, "command": "echo", "resources": {"chips": ["a100"]}}},
            headers={"Authorization": f"Bearer {self.tokens[org]}"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def test_wall_is_public_and_embeds_an_aggregate_snapshot(site: Site) -> None:
    site.submit("acme", "visible-only-as-a-count")
    r = site.client.get("/wall?lang=en")
    assert r.status_code == 200
    assert "City AI Compute" in r.text
    snap = json.loads(re.search(r'id="initial-snapshot">(.*?)</script>', r.text, re.S)[1])  # type: ignore[index]
    assert snap["totals"]["accelerators"] == {"total": 8, "in_use": 0}
    assert snap["totals"]["jobs_queued"] == 1
    assert snap["pools"][0]["name"] == "p1" and snap["pools"][0]["health"] == "ok"
    # Aggregates only: the public wall never carries tenant or job names.
    assert "visible-only-as-a-count" not in r.text and "acme" not in r.text
    assert "Content-Security-Policy" in r.headers


def test_wall_can_be_made_private(tmp_path: Path) -> None:
    s = Site(tmp_path, wall_public=False)
    assert s.client.get("/wall", follow_redirects=False).status_code == 303
    assert s.client.get("/v1/stream/wall").status_code == 401
    tenant = s.login(s.tokens["acme"])
    assert tenant.get("/wall", follow_redirects=False).status_code == 303
    assert s.login(s.op).get("/wall").status_code == 200


def test_login_needs_its_csrf_cookie_and_refuses_agent_tokens(site: Site) -> None:
    client = TestClient(site.app)
    r = client.post("/login", content=f"csrf=x&token={site.op}", headers=FORM)
    assert r.status_code == 403
    csrf = csrf_of(client.get("/login").text)
    r = client.post("/login", content=f"csrf={csrf}&token={site.agent_token}", headers=FORM)
    assert r.status_code == 401 and "agent tokens cannot sign in" in r.text
    r = client.post("/login", content=f"csrf={csrf}&token=hp_nope", headers=FORM)
    assert r.status_code == 401
    r = client.post(
        "/login",
        content=f"csrf={csrf}&token={site.op}&next=//evil.example",
        headers=FORM,
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ops"  # no open redirect
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()


def test_console_submit_needs_csrf_and_gives_field_level_errors(site: Site) -> None:
    tenant = site.login(site.tokens["acme"])
    body = "mode=form&name=ok&command=echo&chips=a100"
    assert tenant.post("/console/jobs", content=body, headers=FORM).status_code == 403
    with site.db.read() as s:
        assert s.scalars(select(JobRow)).first() is None
    csrf = csrf_of(tenant.get("/console").text)
    r = tenant.post(
        "/console/jobs",
        content=f"csrf={csrf}&mode=form&name=ok&command=echo&chips=a100&accelerators=0",
        headers=FORM,
    )
    assert r.status_code == 422
    assert 'id="err-accelerators"' in r.text and "greater than or equal to 1" in r.text
    yaml = "name: y%0Acommand: echo%0Aresources:%0A  chips: [A1000]"
    r = tenant.post("/console/jobs", content=f"csrf={csrf}&mode=yaml&yaml={yaml}", headers=FORM)
    assert r.status_code == 422 and "resources.chips[0]" in r.text
    assert "did you mean" in r.text.lower()
    r = tenant.post(
        "/console/jobs",
        content=f"csrf={csrf}&mode=form&name=good&command=echo&chips=a100",
        headers=FORM,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/console/jobs/job_")


def test_markup_in_user_input_is_escaped(site: Site) -> None:
    tenant = site.login(site.tokens["acme"])
    csrf = csrf_of(tenant.get("/console").text)
    r = tenant.post(
        "/console/jobs",
        content=f"csrf={csrf}&mode=form&name=%3Cscript%3Ealert(1)%3C/script%3E&command=echo",
        headers=FORM,
    )
    assert r.status_code == 422
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_a_tenant_sees_only_its_own_org(site: Site) -> None:
    mine = site.submit("acme", "mine")
    theirs = site.submit("other", "theirs-secret")
    tenant = site.login(site.tokens["acme"])
    assert tenant.get(f"/console/jobs/{mine}").status_code == 200
    r = tenant.get(f"/console/jobs/{theirs}")
    assert r.status_code == 404 and "theirs-secret" not in r.text
    assert tenant.get(f"/v1/stream/jobs/{theirs}").status_code == 404
    page = tenant.get("/console")
    assert "mine" in page.text and "theirs-secret" not in page.text
    csrf = csrf_of(page.text)
    r = tenant.post(f"/console/jobs/{theirs}/cancel", content=f"csrf={csrf}", headers=FORM)
    assert r.status_code == 404
    with tenant.stream("GET", "/v1/stream/jobs") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                names = [j["name"] for j in json.loads(line[5:])]
                assert names == ["mine"]
                break


def test_operator_console_refuses_tenants_and_audits_operator_actions(site: Site) -> None:
    tenant = site.login(site.tokens["acme"])
    r = tenant.get("/ops")
    assert r.status_code == 403 and "operator token" in r.text
    bearer = {"Authorization": f"Bearer {site.tokens['acme']}"}
    assert site.client.get("/ops", headers=bearer).status_code == 403
    assert site.client.get("/ops", follow_redirects=False).status_code == 303  # to /login
    with site.db.read() as s:  # the set-up's own API calls are audited too (issue 9)
        before = len(s.scalars(select(AuditRow)).all())
    op = site.login(site.op)
    page = op.get("/ops")
    assert page.status_code == 200 and "p1" in page.text and 'id="h-ledger"' in page.text
    csrf = csrf_of(page.text)
    assert op.post("/ops/orgs", content="name=x", headers=FORM).status_code == 403
    r = op.post("/ops/orgs", content=f"csrf={csrf}&name=newco&category=lab", headers=FORM)
    assert r.status_code == 200 and "newco" in r.text  # followed the 303 back to /ops
    r = op.post("/ops/tokens", content=f"csrf={csrf}&role=tenant&org=newco", headers=FORM)
    assert r.status_code == 201 and 'id="new-token"' in r.text
    r = op.post("/ops/orgs", content=f"csrf={csrf}&name=newco", headers=FORM)
    assert r.status_code == 409 and "already exists" in r.text
    with site.db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
    assert actions[before:] == ["org.create", "token.create"]


def test_wall_stream_sends_a_snapshot(site: Site) -> None:
    with site.client.stream("GET", "/v1/stream/wall") as stream:
        events: dict[str, Any] = {}
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events[name] = json.loads(line[5:])
                if "snapshot" in events:
                    break
    assert "series" in events
    assert events["snapshot"]["totals"]["accelerators"]["total"] == 8


def test_static_files_stay_inside_the_static_folder(site: Site) -> None:
    assert site.client.get("/static/js/wall.js").status_code == 200
    assert site.client.get("/static/../__init__.py").status_code == 404
    assert site.client.get("/static/%2e%2e/__init__.py").status_code == 404
    vendor = STATIC / "vendor" / "echarts-5.6.0"
    assert (vendor / "LICENSE").read_text().startswith("\n") or "Apache" in (
        vendor / "LICENSE"
    ).read_text()


def test_ledger_figures_reach_the_wall_and_the_consoles(site: Site) -> None:
    h = {"Authorization": f"Bearer {site.op}"}
    r = site.client.post(
        "/v1/prices",
        json={"pool": "p1", "chip": "a100", "fen_per_hour": 1250},
        headers=h,
    )
    assert r.status_code == 201, r.text
    site.client.get("/wall")  # makes the hub on first use
    hub = site.app.state.wall_hub
    hub._slow_at = -1e18  # the ledger figures refresh every 10 s; do not wait for it
    hub.refresh()
    snap = hub.current()
    assert snap["ledger"]["available"] is True
    assert snap["pools"][0]["price_fen"] == 1250
    tenant = site.login(site.tokens["acme"])
    page = tenant.get("/console")
    assert 'data-ledger="na"' not in page.text  # bill, balances and budget come from the ledger
    ops = site.login(site.op).get("/ops")
    assert "1250" in ops.text  # the price list
