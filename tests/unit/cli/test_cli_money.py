"""Money commands against a mock transport: CNY in, fen out; bad amounts never leave."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from typer.testing import Result

if TYPE_CHECKING:
    from conftest import FakeServer

Invoke = Callable[..., Result]
BILL = {
    "org_id": "org_1", "org": "deepblue-ai", "month": "2026-11",
    "lines": [{"job_id": "job_1", "job": "train", "chip": "910b2", "supplier_id": "sup_1",
               "supplier": "lingang", "device_seconds": 302_400, "gross_fen": 25_200,
               "subsidies": [{"program_id": "sh-city", "amount_fen": 7_560},
                             {"program_id": "xuhui", "amount_fen": 5_040}],
               "cash_fen": 12_600}],
    "gross_fen": 25_200, "subsidy_fen": 12_600, "cash_fen": 12_600,
    "subsidies": [{"program_id": "sh-city", "amount_fen": 7_560},
                  {"program_id": "xuhui", "amount_fen": 5_040}],
}  # fmt: skip


def test_bill_table_csv_and_json(invoke: Invoke, server: FakeServer) -> None:
    server.on("GET", "/v1/bills/2026-11", 200, BILL)
    table = invoke("bill", "--org", "deepblue-ai", "--month", "2026-11")
    assert table.exit_code == 0, table.output
    assert "¥75.60" in table.output and "¥126.00" in table.output
    csv_out = invoke("bill", "--org", "deepblue-ai", "--month", "2026-11", "--csv").stdout
    assert csv_out.splitlines()[1].endswith(",25200,7560,5040,12600")
    assert json.loads(invoke("bill", "--month", "2026-11", "--json").stdout) == BILL
    assert invoke("bill", "--month", "2026-11", "--json", "--csv").exit_code == 2


def test_topup_sends_fen_and_bad_amounts_exit_2_without_a_request(
    invoke: Invoke, server: FakeServer
) -> None:
    reply = {"org": "acme", "posted": True, "balance_fen": 100_050, "key": "k"}
    server.on("POST", "/v1/orgs/acme/topups", 201, reply)
    assert invoke("topup", "--org", "acme", "--amount", "1,000.50").exit_code == 0
    assert server.json_bodies()[-1]["amount_fen"] == 100_050
    sent = len(server.requests)
    assert invoke("topup", "--org", "acme", "--amount", "1.005").exit_code == 2
    assert invoke("topup", "--org", "acme", "--amount", "ten").exit_code == 2
    assert len(server.requests) == sent


def test_server_refusal_exits_2(invoke: Invoke, server: FakeServer) -> None:
    error = {"code": "invalid_input", "message": "grant expired", "field": "granted_at"}
    server.on("POST", "/v1/vouchers/grants", 422, {"error": error})
    result = invoke("vouchers", "grant", "sh-city", "--org", "acme", "--from", "2020-01-01")
    assert result.exit_code == 2
    assert "granted_at" in result.output
