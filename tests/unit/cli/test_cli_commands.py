"""Listings, detail, logs, tokens and error mapping, against a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from typer.testing import Result

if TYPE_CHECKING:
    from conftest import FakeServer

from huangpu.cli.launcher import free_port

Invoke = Callable[..., Result]
# --json passes the server's view through unchanged, whatever its fields.
JOB = {"id": "job_01TEST", "state": "RUNNING", "spec": {"name": "x"}}


def test_chips_json_lists_the_catalog_without_a_server(invoke: Invoke, server: FakeServer) -> None:
    result = invoke("chips", "--json")
    assert result.exit_code == 0, result.output
    chips = {c["id"]: c for c in json.loads(result.stdout)}
    assert chips["910b2"]["family"] == "ascend"
    assert chips["910b2"]["visibility_env"] == "ASCEND_RT_VISIBLE_DEVICES"
    assert "a100" in chips
    assert server.requests == []


def test_chips_family_filter_and_bad_family(invoke: Invoke) -> None:
    result = invoke("chips", "--family", "ascend", "--json")
    assert {c["family"] for c in json.loads(result.stdout)} == {"ascend"}
    assert invoke("chips", "--family", "nvidea").exit_code == 2


@pytest.mark.parametrize(
    ("args", "method", "path", "body"),
    [
        (["jobs", "--json"], "GET", "/v1/jobs", [JOB]),
        (["job", "job_01TEST", "--json"], "GET", "/v1/jobs/job_01TEST", JOB),
        (["pools", "--json"], "GET", "/v1/pools", [{"name": "p", "capacity": {}, "agents": []}]),
        (["orgs", "--json"], "GET", "/v1/orgs", [{"id": "org_1", "name": "a", "category": "lab"}]),
        (["suppliers", "--json"], "GET", "/v1/suppliers", [{"id": "sup_1", "name": "s"}]),
        (["tokens", "list", "--json"], "GET", "/v1/tokens", [{"id": "tok_1", "role": "tenant"}]),
        (
            ["cancel", "job_01TEST", "--json"],
            "POST",
            "/v1/jobs/job_01TEST/cancel",
            JOB,
        ),
    ],
)
def test_json_outputs_parse(
    invoke: Invoke, server: FakeServer, args: list[str], method: str, path: str, body: object
) -> None:
    server.on(method, path, 200, body)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == body


def test_jobs_passes_filters_and_rejects_unknown_states(invoke: Invoke, server: FakeServer) -> None:
    server.on("GET", "/v1/jobs", 200, [server.job_view(state="RUNNING", pool="telecom-a100")])
    result = invoke("jobs", "--state", "running", "--org", "deepblue-ai", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "telecom-a100" in result.stdout
    params = server.requests[0].url.params
    assert (params["state"], params["org"], params["limit"]) == ("RUNNING", "deepblue-ai", "5")
    before = len(server.requests)
    assert invoke("jobs", "--state", "sleeping").exit_code == 2
    assert len(server.requests) == before


def test_job_detail_shows_the_state_history(invoke: Invoke, server: FakeServer) -> None:
    history = [
        {"from_state": None, "to_state": "PENDING", "at": 1_700_000_000.0, "reason": "submitted"},
        {"from_state": "PENDING", "to_state": "ADMITTED", "at": 1_700_000_001.0, "reason": None},
    ]
    server.on("GET", "/v1/jobs/job_01TEST", 200, server.job_view(history=history))
    result = invoke("job", "job_01TEST")
    assert result.exit_code == 0, result.output
    assert "state history" in result.stdout and "ADMITTED" in result.stdout


def test_logs_follow_reads_until_complete(invoke: Invoke, server: FakeServer) -> None:
    chunks = {
        "0": {"offset": 0, "data": "step 1\n", "next_offset": 7, "complete": False},
        "7": {"offset": 7, "data": "", "next_offset": 7, "complete": False},
    }
    polls = {"7": 0}

    def logs(request: httpx.Request) -> httpx.Response:
        offset = request.url.params["offset"]
        if offset == "7":
            polls["7"] += 1
            if polls["7"] > 1:  # the job ends after one empty poll
                return httpx.Response(
                    200, json={"offset": 7, "data": "done\n", "next_offset": 12, "complete": True}
                )
        if offset == "12":
            return httpx.Response(
                200, json={"offset": 12, "data": "", "next_offset": 12, "complete": True}
            )
        return httpx.Response(200, json=chunks[offset])

    server.routes[("GET", "/v1/jobs/job_01TEST/logs")] = logs
    result = invoke("logs", "job_01TEST", "-f", "--interval", "0.01")
    assert result.exit_code == 0, result.output
    assert result.stdout == "step 1\ndone\n"


def test_tokens_create_prints_only_the_secret_on_stdout(invoke: Invoke, server: FakeServer) -> None:
    token = {
        "id": "tok_1",
        "token": "s3cret",
        "role": "tenant",
        "org_id": "org_1",
        "pool_id": None,
        "name": None,
    }
    server.on("POST", "/v1/tokens", 201, token)
    result = invoke("tokens", "create", "--role", "tenant", "--org", "deepblue-ai")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "s3cret"
    assert server.json_bodies() == [{"role": "tenant", "org": "deepblue-ai"}]


def test_tenant_token_without_org_is_bad_input(invoke: Invoke, server: FakeServer) -> None:
    result = invoke("tokens", "create", "--role", "tenant")
    assert result.exit_code == 2
    assert "--org" in result.stderr
    assert server.requests == []


def test_orgs_create_rejects_unknown_category_locally(invoke: Invoke, server: FakeServer) -> None:
    assert invoke("orgs", "create", "x", "--category", "charity").exit_code == 2
    assert server.requests == []


@pytest.mark.parametrize(
    ("status", "code", "exit_code", "hint"),
    [
        (401, "unauthorized", 2, "HUANGPU_TOKEN"),
        (403, "forbidden", 2, "tokens create"),
        (404, "not_found", 2, "huangpu jobs"),
        (409, "illegal_transition", 2, "huangpu job ID"),
        (422, "invalid_input", 2, "--schema"),
        (500, "internal", 1, None),
    ],
)
def test_api_errors_map_to_exit_codes_with_a_hint(
    invoke: Invoke, server: FakeServer, status: int, code: str, exit_code: int, hint: str | None
) -> None:
    error = {"code": code, "message": "nope", "field": "spec.name"}
    server.on("POST", "/v1/jobs/job_01TEST/cancel", status, {"error": error})
    result = invoke("cancel", "job_01TEST")
    assert result.exit_code == exit_code, result.output
    assert code in result.stderr and "spec.name" in result.stderr
    if hint:
        assert hint in result.stderr
    assert "Traceback" not in result.output


def test_non_json_5xx_is_a_failure_not_a_crash(invoke: Invoke, server: FakeServer) -> None:
    server.routes[("GET", "/v1/jobs")] = lambda _r: httpx.Response(502, text="Bad Gateway")
    result = invoke("jobs")
    assert result.exit_code == 1
    assert "Bad Gateway" in result.stderr


def test_connection_refused_exits_1_and_says_how_to_start_a_server(invoke: Invoke) -> None:
    # A real transport to a loopback port nothing listens on.
    transport = httpx.HTTPTransport()
    result = invoke("--server", f"http://127.0.0.1:{free_port()}", "jobs", transport=transport)
    assert result.exit_code == 1, result.output
    assert "huangpu up" in result.stderr
    assert "Traceback" not in result.output


def test_token_falls_back_to_the_operator_token_file(server: FakeServer, home: object) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from huangpu.cli.context import CliOptions
    from huangpu.cli.main import app

    assert isinstance(home, Path)
    (home / "operator.token").write_text("from-file\n")
    server.on("GET", "/v1/orgs", 200, [])
    options = CliOptions(transport=httpx.MockTransport(server.handler))
    env = {"HUANGPU_HOME": str(home), "HUANGPU_TOKEN": None, "HUANGPU_SERVER_URL": None}
    result = CliRunner().invoke(app, ["orgs", "--json"], obj=options, env=env)
    assert result.exit_code == 0, result.output
    assert server.requests[0].headers["authorization"] == "Bearer from-file"
    assert str(server.requests[0].url).startswith("http://127.0.0.1:8787/")
