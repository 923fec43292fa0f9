"""The money routes in-process (API + metering + scheduler) on SQLite and PostgreSQL: bad input
gets a 4xx naming the field and posts nothing; tenants see only their own org."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from billing_builders import T0, Books, city
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from huangpu.api.app import build_platform, create_app
from huangpu.control import admission
from huangpu.control.loop import Scheduler
from huangpu.control.metering import Metering
from huangpu.settings import Settings
from huangpu.store import registry
from huangpu.store.ledger_models import (
    LedgerPostingRow,
    LedgerTransactionRow,
    PriceEntryRow,
    VoucherGrantRow,
    VoucherProgramRow,
)
from huangpu.store.models import JobRow
from huangpu.testing.builders import node


class Api:
    def __init__(self, books: Books, tmp: Path) -> None:
        self.books = books
        settings = Settings(
            home=tmp, database_url=books.db.url, lease_seconds=30, poll_timeout_seconds=0
        )
        self.client = TestClient(create_app(build_platform(settings, books.db, books.clock)))
        with books.db.write() as s:
            self.op = registry.create_token(s, "operator", None, None, "op", 0).secret
            self.acme = registry.create_token(s, "tenant", books.org, None, "t", 0).secret
            self.other = registry.create_token(s, "tenant", books.other, None, "t", 0).secret
            self.agent = registry.create_token(s, "agent", None, books.pool, "a", 0).secret

    def call(self, method: str, path: str, token: str, body: Any = None, status: int = 200) -> Any:
        r = self.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == status, r.text
        return r.json()

    def counts(self) -> tuple[int, ...]:
        with self.books.db.read() as s:
            return tuple(
                int(s.scalar(select(func.count()).select_from(m)) or 0)
                for m in (
                    LedgerTransactionRow,
                    LedgerPostingRow,
                    PriceEntryRow,
                    VoucherProgramRow,
                    VoucherGrantRow,
                )
            )


@pytest.fixture
def api(books: Books, tmp_path: Path) -> Api:
    return Api(books, tmp_path)


PROGRAM = {
    "id": "sh-city",
    "name": "Shanghai compute vouchers",
    "funder": "shanghai",
    "rate_bp_domestic": 3000,
    "rate_bp_other": 2000,
    "program_budget_fen": 1_000_000,
    "per_tenant_cap_fen": 500_000,
    "stack_group": "shanghai",
    "eligible_categories": ["startup", "lab"],
}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/prices", {"pool": "p-910b", "chip": "910B", "fen_per_hour": -300}, "fen_per_hour"),
        ("/v1/prices", {"pool": "p-910b", "chip": "910B", "fen_per_hour": 10**12}, "fen_per_hour"),
        (
            "/v1/prices",
            {"pool": "p-910b", "chip": "910B", "fen_per_hour": 300, "currency": "USD"},
            "currency",
        ),
        ("/v1/prices", {"pool": "p-910b", "chip": "91OB", "fen_per_hour": 300}, "chip"),
        (
            "/v1/prices",
            {"pool": "p-910b", "chip": "910B", "fen_per_hour": 300, "effective_from": "2020-01-01"},
            "effective_from",
        ),
        ("/v1/vouchers/programs", {**PROGRAM, "program_budget_fen": -5}, "program_budget_fen"),
        ("/v1/vouchers/programs", {**PROGRAM, "rate_bp_domestic": 30_000}, "rate_bp_domestic"),
        ("/v1/vouchers/programs", {**PROGRAM, "currency": "EUR"}, "currency"),
        ("/v1/orgs/acme/topups", {"amount_fen": -100}, "amount_fen"),
        ("/v1/orgs/acme/topups", {"amount_fen": 10**13}, "amount_fen"),
        ("/v1/orgs/acme/topups", {"amount_fen": 100, "currency": "usd"}, "currency"),
        ("/v1/orgs/acme/topups", {"amount_fen": 1.5}, "amount_fen"),
        ("/v1/orgs/acme/credit-line", {"limit_fen": -1}, "limit_fen"),
        ("/v1/budgets", {"org": "acme", "monthly_fen": 0}, "monthly_fen"),
        ("/v1/platform-fee", {"fee_bp": 10_001}, "fee_bp"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_posts_nothing(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    before = api.counts()
    error = api.call("POST", path, api.op, body, status=422)["error"]
    assert error["field"] == field, error
    assert api.counts() == before


def test_overlapping_price_is_refused(api: Api) -> None:
    body = {"pool": "p-910b", "chip": "910B", "fen_per_hour": 300, "effective_from": T0 + 10**8}
    assert api.call("POST", "/v1/prices", api.op, body, status=201)["chip"] == "910b2"
    before = api.counts()
    again = {**body, "fen_per_hour": 280, "effective_from": T0 + 10**8 - 60}
    assert api.call("POST", "/v1/prices", api.op, again, status=422)["error"]["field"] == (
        "effective_from"
    )
    assert api.counts() == before
    assert [p["fen_per_hour"] for p in api.call("GET", "/v1/prices", api.acme)] == [300]


def test_grants_expired_foreign_and_over_budget_are_refused(api: Api) -> None:
    program = api.call(
        "POST", "/v1/vouchers/programs", api.op, {**PROGRAM, "program_budget_fen": 300}, status=201
    )
    assert program["left_fen"] == 300
    before = api.counts()
    expired = {"program": "sh-city", "org": "acme", "granted_at": "2024-01-01"}
    assert api.call("POST", "/v1/vouchers/grants", api.op, expired, 422)["error"]["field"] == (
        "granted_at"
    )
    foreign = {"program": "sh-city", "org": "other"}  # a company: not an eligible category
    assert api.call("POST", "/v1/vouchers/grants", api.op, foreign, 422)["error"]["field"] == (
        "org_category"
    )
    unknown = {"program": "nope", "org": "acme"}
    api.call("POST", "/v1/vouchers/grants", api.op, unknown, 404)
    assert api.counts() == before
    grant = {"program": "sh-city", "org": "acme", "granted_at": T0 - 3600}
    api.call("POST", "/v1/vouchers/grants", api.op, grant, 201)
    # Spend the whole budget (300 fen = 30 % of 1,000 fen), then a new grant is refused.
    api.books.price(3600)
    job = api.books.job(devices=1)
    api.books.samples(job, T0, T0 + 1000, step=500.0, devices=1)
    Metering(api.books.db, api.books.clock).run_once()
    [listed] = api.call("GET", "/v1/vouchers/programs", api.op)
    assert (listed["left_fen"], listed["spent_fen"]) == (0, 300)
    assert listed["top_tenants"] == [{"org_id": api.books.org, "org": "acme", "spent_fen": 300}]
    with api.books.db.write() as s:
        registry.create_org(s, "newco", "startup", 0)
    late = {"program": "sh-city", "org": "newco"}
    assert api.call("POST", "/v1/vouchers/grants", api.op, late, 422)["error"]["field"] == (
        "program_budget_fen"
    )


def test_bill_balances_and_budgets_are_scoped_to_the_tenants_org(api: Api) -> None:
    api.books.price(300)
    api.books.program(city())
    job = api.books.job()
    api.books.samples(job, T0, T0 + 10.5 * 3600, step=600.0)
    key = {"amount_fen": 50_000, "idempotency_key": "wire-42"}
    first = api.call("POST", "/v1/orgs/acme/topups", api.op, key, 201)
    second = api.call("POST", "/v1/orgs/acme/topups", api.op, key, 201)
    assert (first["posted"], second["posted"], second["balance_fen"]) == (True, False, 50_000)
    Metering(api.books.db, api.books.clock).run_once()
    bill = api.call("GET", "/v1/bills/2026-11", api.acme)
    [line] = bill["lines"]
    assert (line["gross_fen"], line["cash_fen"]) == (25_200, 17_640)
    assert line["subsidies"] == [{"program_id": "sh-city", "amount_fen": 7_560}]
    assert (bill["gross_fen"], bill["subsidy_fen"], bill["cash_fen"]) == (25_200, 7_560, 17_640)
    assert api.call("GET", "/v1/bills/2026-11?org=acme", api.op) == bill
    api.call("GET", "/v1/bills/2026-11?org=acme", api.other, status=404)
    api.call("GET", "/v1/balances?org=acme", api.other, status=404)
    assert api.call("GET", "/v1/bills/2026-11", api.other)["lines"] == []
    assert api.call("GET", "/v1/balances", api.acme)["cash_fen"] == 50_000 - 17_640
    api.call(
        "POST",
        "/v1/prices",
        api.acme,
        {"pool": "p-910b", "chip": "910B", "fen_per_hour": 1},
        status=403,
    )
    api.call("GET", "/v1/bills/2026-13", api.acme, status=422)
    settle = api.call("GET", "/v1/settlements/2026Q4", api.op)["suppliers"]
    assert settle[0]["subsidies"] == [{"program_id": "sh-city", "amount_fen": 7_560}]
    assert (settle[0]["cash_fen"], settle[0]["owed_fen"]) == (17_640, 25_200)
    api.call("GET", "/v1/settlements/2026Q4", api.acme, status=403)


def test_cash_and_budget_stops_keep_jobs_pending_and_grace_cancels(api: Api) -> None:
    books = api.books
    nodes = [node("n0", "910B", 8)]
    api.call("POST", "/v1/agent/register", api.agent, {"agent_name": "a1", "nodes": nodes})
    api.books.price(3600)
    api.call("POST", "/v1/orgs/acme/topups", api.op, {"amount_fen": 1_000}, 201)
    running = books.job(devices=1)
    books.samples(running, T0, T0 + 1_500, step=500.0, devices=1)  # 1,500 fen > 1,000 cash
    Metering(books.db, books.clock).run_once()
    spec = {"name": "next", "command": "true"}
    waiting = api.call("POST", "/v1/jobs", api.acme, {"spec": spec}, 201)["id"]
    Scheduler(books.db, books.clock, 30, "first-fit").run_once()
    with books.db.read() as s:
        row = s.get(JobRow, waiting)
        assert row is not None and row.state == "PENDING"
        assert row.reason is not None and row.reason.startswith("CASH_EXHAUSTED")
        assert "huangpu topup --org acme" in row.reason
    # Running jobs of the org go on for the grace, then are asked to stop.
    assert admission.enforce_grace(books.db, books.clock.now(), 60) == 0
    books.clock.advance(61)
    assert admission.enforce_grace(books.db, books.clock.now(), 60) == 1
    # A top-up lifts the cash stop; a monthly budget already spent then stops admission.
    api.call("POST", "/v1/orgs/acme/topups", api.op, {"amount_fen": 100_000}, 201)
    budget = api.call("POST", "/v1/budgets", api.acme, {"monthly_fen": 1_000}, 200)
    assert [a["threshold_pct"] for a in budget["alerts"]] == [50, 80, 100]
    Scheduler(books.db, books.clock, 30, "first-fit").run_once()
    with books.db.read() as s:
        row = s.get(JobRow, waiting)
        assert row is not None and row.reason is not None
        assert row.reason.startswith("BUDGET_EXHAUSTED: monthly budget ¥10.00 reached")
