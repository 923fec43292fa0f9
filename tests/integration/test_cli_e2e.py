"""The real `huangpu` CLI, run as a subprocess against a real server process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from huangpu.testing.builders import job_spec, job_yaml
from huangpu.testing.processes import Platform, child_env, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JOB_ID = re.compile(r"\bjob_[0-9A-HJKMNP-TV-Z]{26}\b")


def cli_argv() -> list[str]:
    # The console script a user runs; `python -m huangpu` only if it is not installed.
    script = Path(sys.executable).parent / "huangpu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "huangpu"]


def run_cli(
    *args: str, server: str, token: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    # An empty home: no operator.token or huangpu.toml of the developer's to fall back on.
    with tempfile.TemporaryDirectory(prefix="huangpu-cli-home-") as home:
        env = child_env(
            {"HUANGPU_HOME": home, "HUANGPU_SERVER_URL": server, "HUANGPU_TOKEN": token}
        )
        return subprocess.run(
            [*cli_argv(), *args], env=env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="huangpu-cli-") as path:
        yield Path(path)


def test_submit_prints_an_id_and_jobs_json_lists_it(platform: Platform, workdir: Path) -> None:
    token = platform.tenant_tokens["acme"]
    spec_file = workdir / "job.yaml"
    spec_file.write_text(
        "name: from-cli\nkind: batch-infer\ncommand: echo cli-$((1+1))\n"
        "resources:\n  accelerators: 1\n  chips: [a100]\n"
    )
    done = run_cli("submit", str(spec_file), server=platform.url, token=token)
    assert done.returncode == 0, (
        f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    ids = JOB_ID.findall(done.stdout)
    assert ids, f"no job id in stdout: {done.stdout!r}"
    job_id = ids[0]
    view = platform.api.job(job_id)
    assert view["org"] == "acme" and view["name"] == "from-cli", view
    platform.api.wait_for_state(job_id, "SUCCEEDED", timeout=45)

    listed = run_cli("jobs", "--json", server=platform.url, token=token)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert isinstance(rows, list), rows
    assert job_id in {row["id"] for row in rows}, rows
    assert all(row.get("org") in (None, "acme") for row in rows), "tenant sees another org's jobs"


@pytest.mark.parametrize(
    "text",
    [
        "name: bad\ncommand: [unclosed\n",
        "name: bad\ncommand: true\ncolour: red\n",
        job_yaml(job_spec("bad", "true", chips=["910X"])),
    ],
    ids=["malformed-yaml", "unknown-field", "unknown-chip"],
)
def test_bad_spec_exits_2_and_writes_nothing(platform: Platform, workdir: Path, text: str) -> None:
    before = {j["id"] for j in platform.api.jobs(limit=1000)}
    spec_file = workdir / "bad.yaml"
    spec_file.write_text(text)
    done = run_cli(
        "submit", str(spec_file), server=platform.url, token=platform.tenant_tokens["acme"]
    )
    assert done.returncode == 2, (
        f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    assert (done.stderr + done.stdout).strip(), "bad input must say what is wrong"
    assert "Traceback" not in done.stderr, done.stderr
    assert {j["id"] for j in platform.api.jobs(limit=1000)} == before


def test_missing_spec_file_exits_2(platform: Platform, workdir: Path) -> None:
    done = run_cli(
        "submit",
        str(workdir / "nope.yaml"),
        server=platform.url,
        token=platform.tenant_tokens["acme"],
    )
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr}"


def test_no_server_exits_1_with_a_message() -> None:
    # A port nothing listens on: the CLI must fail cleanly, not hang or dump a traceback.
    done = run_cli("jobs", server=f"http://127.0.0.1:{free_port()}", token="whatever", timeout=60)
    assert done.returncode == 1, (
        f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    )
    assert done.stderr.strip(), "the CLI must say why it failed"
    assert "Traceback" not in done.stderr, done.stderr


def test_wrong_token_exits_nonzero_without_traceback(platform: Platform) -> None:
    done = run_cli("jobs", server=platform.url, token="not-a-real-token")
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
