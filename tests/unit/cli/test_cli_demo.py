"""The demo's pieces that need no processes: examples are valid, the bootstrap is idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from rich.console import Console

import huangpu
from huangpu.cli.api_client import ApiClient
from huangpu.cli.demo import DemoJob, load_jobs
from huangpu.cli.launcher import DEFAULT_CITY, Platform
from huangpu.core.jobspec import parse_jobspec_yaml

EXAMPLES = Path(huangpu.__file__).resolve().parent.parent / "examples"


def test_every_example_is_valid_and_says_how_it_should_end() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        spec = parse_jobspec_yaml(path.read_text())
        assert spec.labels.get("expect") in {"succeeded", "failed", "cancelled"}, path
        assert spec.workdir == ".", path
    jobs = load_jobs(EXAMPLES, ["a", "b"])
    assert {j.expect for j in jobs} >= {"succeeded", "failed"}
    assert all(Path(j.spec["workdir"]).is_absolute() for j in jobs)


def test_demo_job_keeps_the_last_log_lines_across_chunks() -> None:
    job = DemoJob(Path("x.yaml"), {"name": "x"}, "org", "succeeded")
    job.add_log("step 1\nste")
    assert job.last_line() == "ste"
    job.add_log("p 2\n\n")
    assert list(job.tail) == ["step 1", "step 2"]
    assert job.last_line() == "step 2"


def test_bootstrap_creates_only_what_is_missing(tmp_path: Path) -> None:
    created: list[tuple[str, dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET":
            existing = {
                "/v1/orgs": [{"id": "org_1", "name": "deepblue-ai"}],
                "/v1/suppliers": [{"id": "sup_1", "name": "sh-telecom"}],
                "/v1/pools": [{"id": "pool_1", "name": "telecom-a100"}],
            }
            return httpx.Response(200, json=existing[path])
        body = json.loads(request.content)
        created.append((path, body))
        if path == "/v1/tokens":
            return httpx.Response(201, json={"id": "tok", "token": f"secret-{len(created)}"})
        return httpx.Response(201, json={"id": "x", **body})

    platform = Platform(home=tmp_path, port=1, console=Console(quiet=True))
    api = ApiClient("http://huangpu.test", "op", transport=httpx.MockTransport(handler))
    agent_tokens = platform.bootstrap(api)

    made = [(p, b.get("name")) for p, b in created if p != "/v1/tokens"]
    assert made == [
        ("/v1/orgs", "fudan-nlp-lab"),
        ("/v1/suppliers", "lingang-ascend"),
        ("/v1/pools", "lingang-910b"),
    ]
    assert set(agent_tokens) == {p.name for p in DEFAULT_CITY.pools}
    assert set(platform.tenant_tokens) == {o.name for o in DEFAULT_CITY.orgs}
    token_file = tmp_path / "tokens" / "deepblue-ai.token"
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_excerpt_keeps_the_placement_lines_and_the_end() -> None:
    job = DemoJob(Path("x.yaml"), {"name": "x"}, "org", "succeeded")
    job.add_log("".join(f"line {i}\n" for i in range(1, 21)))
    assert job.excerpt().splitlines() == [
        "line 1",
        "line 2",
        "… 12 more lines …",
        *[f"line {i}" for i in range(15, 21)],
    ]
    short = DemoJob(Path("x.yaml"), {"name": "x"}, "org", "succeeded")
    short.add_log("a\nb\n")
    assert short.excerpt() == "a\nb"
