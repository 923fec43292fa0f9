"""`huangpu quotas` and `quotas set`, against a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from typer.testing import Result

if TYPE_CHECKING:
    from conftest import FakeServer

Invoke = Callable[..., Result]
QUOTA = {
    "org_id": "org_1",
    "org": "acme",
    "family": "ascend",
    "nominal": 100.0,
    "borrow_limit": 50.0,
    "lend_limit": 20.0,
    "cohort": "sh-ai",
    "updated_at": 1.0,
}


def test_set_sends_the_quota_and_lists_it(invoke: Invoke, server: FakeServer) -> None:
    server.on("POST", "/v1/quotas", body=QUOTA)
    server.on("GET", "/v1/quotas", body=[QUOTA])
    args = ("--family", "ascend", "--nominal", "100", "--borrow", "50", "--lend", "20")
    result = invoke("quotas", "set", "acme", *args, "--cohort", "sh-ai")
    assert result.exit_code == 0, result.output
    assert "100 compute units of ascend" in result.output and "sh-ai" in result.output
    assert server.json_bodies()[-1] == {
        "org": "acme",
        "family": "ascend",
        "nominal": 100.0,
        "borrow_limit": 50.0,
        "lend_limit": 20.0,
        "cohort": "sh-ai",
    }
    assert json.loads(invoke("quotas", "--json").stdout) == [QUOTA]
    assert "sh-ai" in invoke("quotas").output


def test_bad_input_exits_2_naming_the_field(invoke: Invoke, server: FakeServer) -> None:
    result = invoke("quotas", "set", "acme", "--family", "ascend", "--nominal", "-5")
    assert result.exit_code == 2 and "--nominal" in result.output
    assert server.requests == []  # refused before it left the machine
    error = {"code": "invalid_input", "message": "unknown chip family 'ascnd'", "field": "family"}
    server.on("POST", "/v1/quotas", status=422, body={"error": error})
    result = invoke("quotas", "set", "acme", "--family", "ascnd", "--nominal", "5")
    assert result.exit_code == 2 and "family" in result.output
