"""End to end on loopback: real server, scheduler and agent processes, real jobs.

Every job names its chips (a100 or 910b) so it lands on the session's a100 or ascend pool; only
the LOST test uses the two mlu370 pools, so killing an agent there cannot disturb other tests.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from huangpu.core.catalog import load_catalog
from huangpu.core.states import JobState, can_move
from huangpu.testing.builders import job_spec
from huangpu.testing.processes import Platform, descendants, group_members

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JOB_TIMEOUT = 45.0


def assert_legal_history(view: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Every recorded move is in DESIGN.md's table and starts where the previous one ended."""
    history = view.get("history")
    assert isinstance(history, list) and history, f"job {view['id']} has no history: {view}"
    moves: list[tuple[str | None, str]] = [(h.get("from_state"), h["to_state"]) for h in history]
    previous: str | None = None
    for i, (old, new) in enumerate(moves):
        if old is None:
            # Creation: only the first entry may lack a from-state, and it must be PENDING.
            assert i == 0 and new == JobState.PENDING, f"bad creation entry {i}: {moves}"
        else:
            assert previous is None or old == previous, f"history skips a state at {i}: {moves}"
            assert can_move(JobState(old), JobState(new)), f"illegal move {old}->{new}: {moves}"
        previous = new
    assert previous == view["state"], f"history ends in {previous}, job is {view['state']}"
    return moves


def chip_id(name: str) -> str:
    return load_catalog().resolve(name).id


def run_to_end(platform: Platform, spec: dict[str, Any], org: str = "acme") -> dict[str, Any]:
    token = platform.tenant_tokens[org]
    job = platform.api.submit(spec, token)
    assert job["state"] == "PENDING", job
    return platform.api.wait_for_state(
        job["id"], {"SUCCEEDED", "FAILED"}, timeout=JOB_TIMEOUT, token=token
    )


def test_job_succeeds_and_its_logs_hold_its_output(platform: Platform) -> None:
    # The expected text is computed by the shell, so it is not in the command itself: an
    # agent that merely echoed the command would not pass.
    spec = job_spec("hello", 'echo "answer=$((40+2)) greeting=$GREETING"', chips=["a100"])
    spec["env"] = {"GREETING": "ni-hao"}
    view = run_to_end(platform, spec)
    assert view["state"] == "SUCCEEDED", view
    assert view["exit_code"] == 0, view
    assert view["pool"] == "a100-pool", view
    logs = platform.api.wait_for_logs(view["id"], "answer=42", token=platform.tenant_tokens["acme"])
    assert "greeting=ni-hao" in logs, logs
    moves = assert_legal_history(view)
    assert [m[1] for m in moves][-2:] == ["RUNNING", "SUCCEEDED"], moves


@pytest.mark.parametrize(
    ("chip", "pool", "variable"),
    [
        ("a100", "a100-pool", "CUDA_VISIBLE_DEVICES"),
        ("910b", "ascend-pool", "ASCEND_RT_VISIBLE_DEVICES"),
    ],
)
def test_job_sees_its_devices_through_its_chip_familys_variable(
    platform: Platform, chip: str, pool: str, variable: str
) -> None:
    # The short sleep keeps the job RUNNING long enough to read its placement: a finished
    # job's view no longer lists devices (they are released).
    spec = job_spec(
        f"devices-{chip}", f'echo "visible=[${variable}]"; sleep 2', chips=[chip], accelerators=2
    )
    token = platform.tenant_tokens["acme"]
    job = platform.api.submit(spec, token)
    running = platform.api.wait_for_state(job["id"], "RUNNING", timeout=JOB_TIMEOUT, token=token)
    assert running["pool"] == pool, running
    placed = running["devices"]
    assert len(placed) == 2 and {d["chip"] for d in placed} == {chip_id(chip)}, placed
    view = platform.api.wait_for_state(job["id"], "SUCCEEDED", timeout=JOB_TIMEOUT, token=token)
    assert_legal_history(view)
    logs = platform.api.wait_for_logs(view["id"], "visible=", token=token)
    match = re.search(r"visible=\[([^\]]*)\]", logs)
    assert match, logs
    indices = match.group(1).split(",")
    assert len(indices) == 2 and all(i.isdigit() for i in indices), f"{variable}={match.group(1)!r}"
    assert sorted(map(int, indices)) == sorted(d["index"] for d in placed), (indices, placed)


def test_nonzero_exit_goes_failed_with_the_exit_code(platform: Platform) -> None:
    view = run_to_end(platform, job_spec("fails", "echo about-to-fail; exit 3", chips=["910b"]))
    assert view["state"] == "FAILED", view
    assert view["exit_code"] == 3, view
    assert_legal_history(view)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_stops_the_running_process(platform: Platform) -> None:
    token = platform.tenant_tokens["acme"]
    # `; echo` keeps the shell alive as a parent, so a child process exists to leak as well.
    job = platform.api.submit(
        job_spec("long", "sleep 300; echo not-reached", chips=["a100"]), token
    )
    running = platform.api.wait_for_state(job["id"], "RUNNING", timeout=JOB_TIMEOUT, token=token)
    agent = platform.pool_of(running).agent
    pid = agent.job_pid(job["id"])
    deadline = time.monotonic() + 10
    tree = {pid, *descendants(pid)}
    while time.monotonic() < deadline and len(tree) < 2:
        time.sleep(0.05)  # the command's own processes start just after the job's first one
        tree = {pid, *descendants(pid)}
    tree |= group_members(pid)
    assert not _gone(pid), f"job.json names pid {pid}, which is not running"

    platform.api.cancel(job["id"], token)
    view = platform.api.wait_for_state(job["id"], "CANCELLED", timeout=15, token=token)
    assert_legal_history(view)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(_gone(p) for p in tree):
        time.sleep(0.1)
    states = {}
    for p in tree:
        try:
            states[p] = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
    assert not states, f"processes of the cancelled job still exist (pid: state): {states}"
    assert not group_members(pid), f"process group {pid} still has members"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "not-reached" not in platform.api.logs(job["id"], token)


def test_killed_agent_job_goes_lost_and_finishes_on_the_other_pool(platform: Platform) -> None:
    # Two pools that only this test uses (mlu370), both able to run the job.
    east, west = platform.pools["mlu-east"], platform.pools["mlu-west"]
    token = platform.tenant_tokens["acme"]
    marker_dir = Path(tempfile.mkdtemp(prefix="huangpu-lost-"))
    marker = marker_dir / "first-attempt-started"
    # The first attempt leaves a marker and sleeps; the requeued attempt sees it and finishes.
    command = (
        f'if [ -e "{marker}" ]; then echo "second attempt"; '
        f'else touch "{marker}"; echo "first attempt"; sleep 120; fi'
    )
    job = platform.api.submit(job_spec("survivor", command, chips=["mlu370"]), token)
    first = platform.api.wait_for_state(job["id"], "RUNNING", timeout=JOB_TIMEOUT, token=token)
    victim = platform.pool_of(first)
    other = west if victim is east else east
    orphan = victim.agent.job_pid(job["id"])

    victim.agent.kill()
    try:
        view = platform.api.wait_for_state(job["id"], "SUCCEEDED", timeout=60, token=token)
        assert view["pool"] == other.name, f"requeued onto {view['pool']}, expected {other.name}"
        assert view["attempt"] >= 1, view
        moves = assert_legal_history(view)
        targets = [m[1] for m in moves]
        lost = targets.index("LOST")
        assert targets[lost + 1] == "PENDING", f"LOST not followed by PENDING: {moves}"
        logs = platform.api.wait_for_logs(job["id"], "second attempt", token=token)
        assert "second attempt" in logs

        # A restarted agent re-attaches to what still runs; the server answers "stop it" for
        # the lost attempt, so the orphaned first attempt must end (DESIGN.md, agent protocol).
        victim.agent.restart()
        platform.api.wait_for_agent(victim.name, timeout=20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _gone(orphan):
            time.sleep(0.2)
        assert _gone(orphan), (
            f"the lost first attempt (pid {orphan}) still runs 20s after its agent restarted"
        )
    finally:
        if not victim.agent.alive():
            victim.agent.restart()
        shutil.rmtree(marker_dir, ignore_errors=True)


def test_missing_or_wrong_token_is_401(platform: Platform) -> None:
    api = platform.api
    for token in ("", "not-a-real-token"):
        for method, path in (("GET", "/v1/jobs"), ("GET", "/v1/whoami"), ("POST", "/v1/orgs")):
            resp = api.request(
                method, path, token, json={"name": "x"} if method == "POST" else None
            )
            assert resp.status_code == 401, f"{method} {path} with {token!r}: {resp.text}"
            assert resp.json()["error"]["code"] == "unauthorized", resp.text


def test_tenant_token_on_operator_routes_is_403(platform: Platform) -> None:
    token = platform.tenant_tokens["acme"]
    before = {o["name"] for o in platform.api.get("/v1/orgs")}
    for method, path, body in (
        ("POST", "/v1/orgs", {"name": "sneaky", "category": "startup"}),
        ("GET", "/v1/orgs", None),
        ("POST", "/v1/suppliers", {"name": "sneaky"}),
        ("POST", "/v1/tokens", {"role": "operator"}),
        ("GET", "/v1/tokens", None),
    ):
        resp = platform.api.request(method, path, token, json=body)
        assert resp.status_code == 403, f"{method} {path}: {resp.status_code} {resp.text}"
        assert resp.json()["error"]["code"] == "forbidden", resp.text
    assert {o["name"] for o in platform.api.get("/v1/orgs")} == before


def test_tenant_cannot_see_another_orgs_job(platform: Platform) -> None:
    acme, globex = platform.tenant_tokens["acme"], platform.tenant_tokens["globex"]
    job = platform.api.submit(job_spec("private", "echo secret", chips=["910b"]), acme)
    for method, path in (
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/logs"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
    ):
        resp = platform.api.request(method, path, globex)
        assert resp.status_code == 404, f"{method} {path} as globex: {resp.status_code} {resp.text}"
    assert job["id"] not in {j["id"] for j in platform.api.jobs(globex, limit=1000)}
    assert job["id"] in {j["id"] for j in platform.api.jobs(acme, limit=1000)}
    view = platform.api.wait_for_state(job["id"], "SUCCEEDED", timeout=JOB_TIMEOUT, token=acme)
    assert view["org"] == "acme", view


def _spec_with(**resources: Any) -> dict[str, Any]:
    spec = job_spec("bad", "echo never", chips=["a100"])
    spec["resources"].update(resources)
    return spec


BAD_BODIES: list[tuple[str, Any, set[str], str]] = [
    # (case, body, accepted error codes, text the field must contain)
    (
        "unknown field",
        {"spec": {**job_spec("bad", "true"), "colour": "red"}},
        {"invalid_input"},
        "colour",
    ),
    ("unknown chip", {"spec": job_spec("bad", "true", chips=["910X"])}, {"unknown_chip"}, "chips"),
    ("zero accelerators", {"spec": _spec_with(accelerators=0)}, {"invalid_input"}, "accelerators"),
    ("negative nodes", {"spec": _spec_with(nodes=-1)}, {"invalid_input"}, "nodes"),
    ("missing name", {"spec": {"command": "true"}}, {"invalid_input"}, "name"),
    ("spec not a mapping", {"spec": ["name", "bad"]}, {"invalid_input"}, "spec"),
    ("no spec", {}, {"invalid_input"}, "spec"),
    ("unsatisfiable", {"spec": _spec_with(accelerators=64)}, {"unsatisfiable"}, "resources"),
]


@pytest.mark.parametrize(
    ("body", "codes", "field"),
    [pytest.param(b, c, f, id=case) for case, b, c, f in BAD_BODIES],
)
def test_bad_job_input_is_422_naming_the_field_and_writes_nothing(
    platform: Platform, body: Any, codes: set[str], field: str
) -> None:
    token = platform.tenant_tokens["acme"]
    before = {j["id"] for j in platform.api.jobs(limit=1000)}
    resp = platform.api.post_job(body, token)
    assert resp.status_code == 422, f"{resp.status_code} {resp.text}"
    error = resp.json()["error"]
    assert error["code"] in codes, error
    assert field in (error.get("field") or ""), f"field should name {field!r}: {error}"
    assert error["message"], error
    if "unknown_chip" in codes:
        assert "did you mean" in error["message"].lower(), error
        assert "910b" in error["message"].lower(), error
    assert {j["id"] for j in platform.api.jobs(limit=1000)} == before, "a rejected job was written"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe", b'"just a string"'],
    ids=["malformed", "empty", "not utf-8", "string"],
)
def test_malformed_body_is_422_and_writes_nothing(platform: Platform, content: bytes) -> None:
    token = platform.tenant_tokens["acme"]
    before = {j["id"] for j in platform.api.jobs(limit=1000)}
    resp = platform.api.request(
        "POST", "/v1/jobs", token, content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, f"{resp.status_code} {resp.text}"
    assert resp.json()["error"]["code"] == "invalid_input", resp.text
    assert {j["id"] for j in platform.api.jobs(limit=1000)} == before


def test_every_job_of_the_session_has_a_legal_history(platform: Platform) -> None:
    # Runs last in this module: sweeps every job the session's tests created, whatever state
    # it is in now, including those the CLI tests submitted.
    jobs = platform.api.jobs(limit=1000)
    assert jobs, "the session created no jobs"
    for job in jobs:
        assert_legal_history(platform.api.job(job["id"]))
