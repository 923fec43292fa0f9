"""Tokens that expire and revoke at once, rate limits, the audit log of operator actions, request
ids and JSON logs, and all-or-nothing batch submission (issue 9)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from huangpu import logfmt
from huangpu.api.ratelimit import TokenBucket
from huangpu.cli.api_client import CliError
from huangpu.cli.tokens import parse_ttl
from huangpu.store.models import AuditRow, TokenRow
from huangpu.testing.inproc import InProcessApi


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[InProcessApi]:
    a = InProcessApi(tmp_path, database_url, login_burst=3, login_rate_per_second=0.01)
    a.tenant = a.add_org("acme")
    a.add_pool("p1")
    yield a
    a.close()


def _actions(api: InProcessApi) -> list[str]:
    with api.db.read() as s:
        return [r.action for r in s.scalars(select(AuditRow).order_by(AuditRow.id))]


# --- tokens -------------------------------------------------------------------------------------


def test_a_token_with_a_ttl_works_until_it_expires_even_when_cached(api: InProcessApi) -> None:
    body = {"role": "tenant", "org": "acme", "ttl_seconds": 60}
    made = api.ok("POST", "/v1/tokens", api.op, json=body)
    assert made["expires_at"] == pytest.approx(api.clock.now() + 60)
    assert api.call("GET", "/v1/whoami", made["token"]).status_code == 200  # now cached
    api.clock.advance(59)
    assert api.call("GET", "/v1/whoami", made["token"]).status_code == 200
    api.clock.advance(2)
    r = api.call("GET", "/v1/whoami", made["token"])
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    # The web sign-in refuses it too.
    login = api.client.post(
        "/login", data={"csrf": "c", "token": made["token"]}, cookies={"hp_login_csrf": "c"}
    )
    assert login.status_code == 401


def test_a_revoked_token_fails_at_once_despite_the_cache(api: InProcessApi) -> None:
    made = api.ok("POST", "/v1/tokens", api.op, json={"role": "tenant", "org": "acme"})
    assert api.call("GET", "/v1/whoami", made["token"]).status_code == 200  # cached
    api.ok("POST", f"/v1/tokens/{made['id']}/revoke", api.op)
    assert api.call("GET", "/v1/whoami", made["token"]).status_code == 401


def test_tokens_are_stored_only_as_hashes(api: InProcessApi) -> None:
    made = api.ok("POST", "/v1/tokens", api.op, json={"role": "tenant", "org": "acme"})
    with api.db.read() as s:
        row = s.get(TokenRow, made["id"])
        assert row is not None and made["token"] not in row.secret_hash
        assert len(row.secret_hash) == 64


@pytest.mark.parametrize("ttl", [0, -5, 10**12])
def test_a_bad_ttl_is_422(api: InProcessApi, ttl: float) -> None:
    body = {"role": "tenant", "org": "acme", "ttl_seconds": ttl}
    assert api.call("POST", "/v1/tokens", api.op, json=body).status_code == 422


def test_cli_ttl_parses_units_and_refuses_nonsense() -> None:
    assert parse_ttl("3600") == 3600
    assert parse_ttl("90m") == 5400
    assert parse_ttl("12h") == 43200
    assert parse_ttl("30d") == 30 * 86400
    for bad in ("", "abc", "-1h", "0", "h"):
        with pytest.raises(CliError):
            parse_ttl(bad)


# --- rate limits ----------------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert bucket.take("k") == 0 and bucket.take("k") == 0
    assert bucket.take("k") == pytest.approx(0.5)
    assert bucket.take("other") == 0  # buckets are per key
    now[0] += 0.5
    assert bucket.take("k") == 0


def test_sign_in_is_rate_limited_per_address_with_retry_after(api: InProcessApi) -> None:
    form = {"data": {"csrf": "c", "token": "hp_wrong"}, "cookies": {"hp_login_csrf": "c"}}
    codes = [api.client.post("/login", **form).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    r = api.client.post("/login", **form)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"


def test_submit_is_rate_limited_per_token(database_url: str, tmp_path: Path) -> None:
    api = InProcessApi(tmp_path, database_url, submit_burst=2, submit_rate_per_second=0.01)
    try:
        acme, other = api.add_org("acme"), api.add_org("other")
        api.add_pool("p1")
        body = {"spec": {"name": "j", "command": "true"}}
        codes = [api.call("POST", "/v1/jobs", acme, json=body).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        batch = {"jobs": [body["spec"]]}
        assert api.call("POST", "/v1/jobs:batch", acme, json=batch).status_code == 429
        assert api.call("POST", "/v1/jobs", other, json=body).status_code == 201
    finally:
        api.close()


# --- audit ----------------------------------------------------------------------------------


def test_every_operator_api_action_is_audited(api: InProcessApi) -> None:
    before = len(_actions(api))
    op = api.op
    api.ok("POST", "/v1/orgs", op, json={"name": "newco"})
    api.ok("POST", "/v1/suppliers", op, json={"name": "sup2"})
    api.ok("POST", "/v1/pools", op, json={"name": "p2", "supplier": "sup2", "region": "sh"})
    tok = api.ok("POST", "/v1/tokens", op, json={"role": "tenant", "org": "newco"})
    api.ok("POST", f"/v1/tokens/{tok['id']}/revoke", op)
    later = api.clock.now() + 3600
    price = {"pool": "p1", "chip": "a100", "fen_per_hour": 900, "effective_from": later}
    api.ok("POST", "/v1/prices", op, json=price)
    api.ok("POST", "/v1/platform-fee", op, json={"fee_bp": 300, "effective_from": later})
    program = {
        "id": "sh-2026",
        "name": "Shanghai",
        "funder": "city",
        "rate_bp_domestic": 3000,
        "rate_bp_other": 2000,
        "program_budget_fen": 10**6,
        "per_tenant_cap_fen": 10**5,
    }
    api.ok("POST", "/v1/vouchers/programs", op, json=program)
    api.ok("POST", "/v1/vouchers/grants", op, json={"program": "sh-2026", "org": "acme"})
    api.ok("POST", "/v1/orgs/acme/topups", op, json={"amount_fen": 5000})
    api.ok("POST", "/v1/orgs/acme/credit-line", op, json={"limit_fen": 1000})
    api.ok("POST", "/v1/budgets", op, json={"org": "acme", "monthly_fen": 10**5})
    assert _actions(api)[before:] == [
        "org.create",
        "supplier.create",
        "pool.create",
        "token.create",
        "token.revoke",
        "price.set",
        "fee.set",
        "program.create",
        "grant.create",
        "topup",
        "credit_line.set",
        "budget.set",
    ]
    with api.db.read() as s:
        last = s.scalars(select(AuditRow).order_by(AuditRow.id.desc())).first()
        assert last is not None and last.role == "operator" and last.detail["monthly_fen"] == 10**5


def test_a_refused_action_leaves_no_audit_row(api: InProcessApi) -> None:
    before = _actions(api)
    assert api.call("POST", "/v1/orgs", api.op, json={"name": "acme"}).status_code == 409
    bad = {"amount_fen": -5}
    assert api.call("POST", "/v1/orgs/acme/topups", api.op, json=bad).status_code == 422
    assert api.call("POST", "/v1/orgs", api.tenant, json={"name": "x"}).status_code == 403
    assert _actions(api) == before


# --- request ids and logs -------------------------------------------------------------------


def test_every_response_has_a_request_id_and_a_sane_one_is_kept(api: InProcessApi) -> None:
    r = api.call("GET", "/healthz")
    assert len(r.headers["x-request-id"]) == 16
    r = api.call("GET", "/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = api.call("GET", "/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"
    assert api.call("GET", "/nope").headers["x-request-id"]


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("huangpu.x", logging.INFO, __file__, 1, "hello %s", ("w",), None)
    token = logfmt.request_id.set("rid-1")
    try:
        line = json.loads(logfmt.JsonFormatter().format(record))
    finally:
        logfmt.request_id.reset(token)
    assert line["message"] == "hello w" and line["request_id"] == "rid-1"
    assert line["level"] == "INFO" and line["logger"] == "huangpu.x"


# --- batch submit ---------------------------------------------------------------------------


def test_batch_submit_stores_all_or_nothing(api: InProcessApi) -> None:
    good = [{"name": f"j{i}", "command": "true"} for i in range(5)]
    r = api.call("POST", "/v1/jobs:batch", api.tenant, json={"jobs": good})
    assert r.status_code == 201 and len(r.json()["jobs"]) == 5
    before = api.row_counts()["jobs"]
    bad = [*good, {"name": "x", "command": "true", "resources": {"chips": ["mlu370"]}}]
    r = api.call("POST", "/v1/jobs:batch", api.tenant, json={"jobs": bad})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("jobs[5]")
    r = api.call("POST", "/v1/jobs:batch", api.tenant, json={"jobs": [*good, {"name": "y"}]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("jobs[5]")
    assert api.call("POST", "/v1/jobs:batch", api.tenant, json={"jobs": []}).status_code == 422
    assert api.row_counts()["jobs"] == before


# --- metrics --------------------------------------------------------------------------------


def test_metrics_scrape_shows_queue_latency_postings_and_subsidy(api: InProcessApi) -> None:
    api.ok("POST", "/v1/jobs", api.tenant, json={"spec": {"name": "j", "command": "true"}})
    api.ok("POST", "/v1/orgs/acme/topups", api.op, json={"amount_fen": 5000})
    program = {
        "id": "hz",
        "name": "Hangzhou",
        "funder": "city",
        "rate_bp_domestic": 3000,
        "rate_bp_other": 2000,
        "program_budget_fen": 10**6,
        "per_tenant_cap_fen": 10**5,
    }
    api.ok("POST", "/v1/vouchers/programs", api.op, json=program)
    text = api.call("GET", "/metrics").text
    assert 'huangpu_jobs{state="PENDING"} 1.0' in text
    assert 'huangpu_http_request_seconds_count{method="POST",route="/v1/jobs",status="201"}' in text
    postings = next(x for x in text.splitlines() if x.startswith("huangpu_ledger_postings "))
    assert float(postings.split()[1]) >= 4  # the top-up and the program's funding
    assert 'huangpu_subsidy_spent_fen{program="hz"} 0.0' in text
    assert "huangpu_jobs_submitted_total 1.0" in text
