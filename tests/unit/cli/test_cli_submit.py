"""`huangpu submit`: local validation first (exit 2, nothing sent), then POST /v1/jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import Result

if TYPE_CHECKING:
    from conftest import FakeServer


Invoke = Callable[..., Result]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: bad\ncommand: [unclosed\n", "malformed YAML"),
        ("name: bad\ncommand: 'true'\ncolour: red\n", "colour"),
        (
            "name: bad\ncommand: 'true'\nresources:\n  chips: [910X]\n",
            "resources.chips[0]",
        ),
        (
            "name: bad\ncommand: 'true'\nresources:\n  accelerators: 0\n",
            "resources.accelerators",
        ),
        ("name: bad\ncommand: 'true'\nresources:\n  nodes: -1\n", "resources.nodes"),
        ("- just\n- a list\n", "mapping"),
    ],
    ids=[
        "malformed",
        "unknown-field",
        "unknown-chip",
        "zero-accelerators",
        "negative-nodes",
        "not-a-mapping",
    ],
)
def test_bad_spec_exits_2_names_the_field_and_sends_nothing(
    invoke: Invoke, server: FakeServer, tmp_path: Path, text: str, expected: str
) -> None:
    result = invoke("submit", str(write(tmp_path, text)))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert server.requests == []
    assert "Traceback" not in result.output


def test_unknown_chip_suggests_the_nearest_model(
    invoke: Invoke, server: FakeServer, tmp_path: Path
) -> None:
    path = write(tmp_path, "name: x\ncommand: 'true'\nresources:\n  chips: [910X]\n")
    result = invoke("submit", str(path))
    assert result.exit_code == 2
    assert "Did you mean" in result.stderr and "910b" in result.stderr, result.stderr
    assert server.requests == []


def test_missing_file_exits_2(invoke: Invoke, server: FakeServer, tmp_path: Path) -> None:
    result = invoke("submit", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert server.requests == []


def test_submit_posts_the_spec_with_workdir_resolved_and_prints_the_id(
    invoke: Invoke, server: FakeServer, tmp_path: Path
) -> None:
    server.on("POST", "/v1/jobs", 201, server.job_view("job_01NEW"))
    path = write(tmp_path, "name: ok\ncommand: python run.py\nworkdir: .\n")
    result = invoke("submit", str(path), "--org", "deepblue-ai")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "job_01NEW"
    [body] = server.json_bodies()
    assert body["org"] == "deepblue-ai"
    assert body["spec"]["name"] == "ok"
    assert body["spec"]["workdir"] == str(tmp_path.resolve())
    assert server.requests[0].headers["authorization"] == "Bearer test-token"


def test_submit_json_prints_the_job_view(
    invoke: Invoke, server: FakeServer, tmp_path: Path
) -> None:
    server.on("POST", "/v1/jobs", 201, server.job_view("job_01NEW"))
    result = invoke("submit", str(write(tmp_path, "name: ok\ncommand: 'true'\n")), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == "job_01NEW"


def test_schema_prints_json_schema_without_a_file(invoke: Invoke, server: FakeServer) -> None:
    result = invoke("submit", "--schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"name", "command", "resources"} <= set(schema["properties"])
    assert server.requests == []


def test_server_side_422_maps_to_exit_2_with_the_field(
    invoke: Invoke, server: FakeServer, tmp_path: Path
) -> None:
    error = {
        "code": "unsatisfiable",
        "message": "no pool has 64 accelerators of 910b2",
        "field": "resources.accelerators",
    }
    server.on("POST", "/v1/jobs", 422, {"error": error})
    result = invoke("submit", str(write(tmp_path, "name: ok\ncommand: 'true'\n")))
    assert result.exit_code == 2
    assert "resources.accelerators" in result.stderr
    assert "huangpu pools" in result.stderr  # says what to do next


def test_wait_exits_1_when_the_job_fails(
    invoke: Invoke, server: FakeServer, tmp_path: Path
) -> None:
    server.on("POST", "/v1/jobs", 201, server.job_view("job_01F"))
    server.on("GET", "/v1/jobs/job_01F", 200, server.job_view("job_01F", "FAILED", exit_code=3))
    result = invoke("submit", str(write(tmp_path, "name: ok\ncommand: 'false'\n")), "--wait")
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
