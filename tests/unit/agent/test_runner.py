"""Runner end-to-end against a fake server (MockTransport), with the fake and local executors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from huangpu.agent.client import AgentClient
from huangpu.agent.executors.base import QUEUED, RUNNING
from huangpu.agent.executors.local import LocalExecutor, group_alive
from huangpu.agent.inventory import parse_inventory
from huangpu.agent.runner import Agent
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import DevicePlacement, Lease
from huangpu.testing.fake_executor import FakeExecutor


class Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_seq = 0
        self.events: list[dict[str, Any]] = []
        self.leases: list[dict[str, Any]] = []
        self.cancel: list[dict[str, Any]] = []
        self.stop: list[dict[str, Any]] = []
        self.stop_on_report: set[tuple[str, int]] = set()
        self.running_seen: list[list[dict[str, Any]]] = []
        self.down = False
        self.registers: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("down", request=request)
        body = json.loads(request.content)
        with self.lock:
            if request.url.path.endswith("register"):
                self.registers.append(body)
                return httpx.Response(
                    200,
                    json={
                        "agent_id": "agent_1",
                        "pool_id": "pool_1",
                        "pool_name": "p",
                        "lease_seconds": 20,
                        "poll_timeout_seconds": 0.3,
                        "last_seq": self.last_seq,
                    },
                )
            if request.url.path.endswith("poll"):
                self.running_seen.append(body["running"])
                out = {"leases": self.leases, "cancel": self.cancel, "stop": self.stop}
                self.leases, self.cancel, self.stop = [], [], []
            else:
                stop = []
                if body["seq"] == self.last_seq + 1:
                    self.events += body["events"]
                    self.last_seq = body["seq"]
                    stop = [
                        {"job_id": e["job_id"], "attempt": e["attempt"]}
                        for e in body["events"]
                        if (e["job_id"], e["attempt"]) in self.stop_on_report
                    ]
                return httpx.Response(
                    200,
                    json={
                        "acked_seq": self.last_seq,
                        "duplicate": body["seq"] < self.last_seq,
                        "stop": stop,
                    },
                )
        if not any(out.values()):
            time.sleep(0.1)
        return httpx.Response(200, json=out)

    def kinds(self, job_id: str) -> list[str]:
        with self.lock:
            return [e["kind"] for e in self.events if e["job_id"] == job_id]

    def of(self, job_id: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["job_id"] == job_id and e["kind"] == kind]


def lease(job_id: str, command: str = "true", **spec: Any) -> dict[str, Any]:
    return Lease(
        job_id=job_id,
        attempt=0,
        spec=JobSpec(name="t", command=command, **spec),
        devices=[DevicePlacement(node="a-n0", index=0), DevicePlacement(node="a-n0", index=1)],
        visibility_env={"CUDA_VISIBLE_DEVICES": "0,1"},
        expires_at=0,
    ).model_dump(mode="json")


def wait_for(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start(server: Server, executor, state: Path, **kw):
    client = AgentClient("http://hub", "t", state, transport=httpx.MockTransport(server))
    agent = Agent(client, executor, parse_inventory("2xA100", "a"), "a", tick=0.05, **kw)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return agent, stop, thread


def test_fake_executor_flow(tmp_path: Path) -> None:
    server, ex = Server(), FakeExecutor()
    server.leases = [lease("job_a"), lease("job_b"), lease("job_c")]
    _agent, stop, thread = start(server, ex, tmp_path, usage_interval=0.1)
    wait_for(lambda: len(ex.jobs) == 3)
    ids = {j.ref.job_id: e for e, j in ex.jobs.items()}
    ex.write(ids["job_a"], "héllo wörld\n".encode() + b"\xff\n")
    time.sleep(0.3)
    ex.finish(ids["job_a"], 0)
    ex.finish(ids["job_b"], -9)
    wait_for(lambda: "exited" in server.kinds("job_a") and "exited" in server.kinds("job_b"))
    a = server.kinds("job_a")
    assert a[0] == "started" and a[-1] == "exited" and a.count("exited") == 1
    assert "usage" in a
    logs = server.of("job_a", "log")
    assert "".join(chunk["data"] for chunk in logs) == "héllo wörld\n?\n"
    assert server.of("job_a", "exited")[0]["outcome"] == "succeeded"
    b = server.of("job_b", "exited")[0]
    assert (b["outcome"], b["exit_code"], b["reason"]) == (
        "failed",
        -9,
        "killed by signal 9 (SIGKILL)",
    )
    wait_for(lambda: ex.jobs[ids["job_a"]].forgotten)
    usage = server.of("job_a", "usage")
    assert all(
        u["devices"] == 2 and abs(u["device_seconds"] - 2 * (u["end"] - u["start"])) < 1e-6
        for u in usage
    )
    # cancel
    with server.lock:
        server.cancel = [{"job_id": "job_c", "attempt": 0}]
    wait_for(lambda: "exited" in server.kinds("job_c"))
    assert server.of("job_c", "exited")[0]["outcome"] == "cancelled"
    assert ex.jobs[ids["job_c"]].cancelled
    # submit failure
    ex.fail_submit = "workdir '/nope' does not exist"
    with server.lock:
        server.leases = [lease("job_d")]
    wait_for(lambda: "exited" in server.kinds("job_d"))
    assert server.kinds("job_d") == ["exited"]
    assert server.of("job_d", "exited")[0]["reason"] == "workdir '/nope' does not exist"
    # stop: kill, report nothing more
    with server.lock:
        server.leases = [lease("job_e")]
    wait_for(lambda: "started" in server.kinds("job_e"))
    e_id = next(e for e, j in ex.jobs.items() if j.ref.job_id == "job_e")
    with server.lock:
        server.stop = [{"job_id": "job_e", "attempt": 0}]
    wait_for(lambda: ex.jobs[e_id].forgotten)
    assert ex.jobs[e_id].cancelled
    time.sleep(0.3)
    assert "exited" not in server.kinds("job_e")
    # server down: jobs keep going, replay in order
    with server.lock:
        server.leases = [lease("job_f")]
    wait_for(lambda: "started" in server.kinds("job_f"))
    f_id = next(e for e, j in ex.jobs.items() if j.ref.job_id == "job_f")
    server.down = True
    ex.write(f_id, b"offline output\n")
    time.sleep(0.3)
    ex.finish(f_id, 3)
    time.sleep(0.5)
    assert "exited" not in server.kinds("job_f")
    server.down = False
    wait_for(lambda: "exited" in server.kinds("job_f"), timeout=40)
    f = server.kinds("job_f")
    assert f.index("log") < f.index("exited") and f.count("exited") == 1
    assert server.of("job_f", "exited")[0]["reason"] == "exit code 3"
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_local_restart_reattaches_and_reports_once(tmp_path: Path) -> None:
    server = Server()
    server.leases = [
        lease("job_run", "echo begin; sleep 1.5; echo end; exit 4"),
        lease("job_long", "sleep 300"),
    ]
    ex = LocalExecutor(tmp_path / "jobs")
    _agent, stop, thread = start(server, ex, tmp_path)
    wait_for(lambda: "started" in server.kinds("job_run") and "started" in server.kinds("job_long"))
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    time.sleep(2.0)  # job_run finishes while the agent is down
    ex2 = LocalExecutor(tmp_path / "jobs")
    _agent2, stop2, thread2 = start(server, ex2, tmp_path)
    wait_for(lambda: "exited" in server.kinds("job_run"))
    assert server.registers[-1]["running"] and {
        r["job_id"] for r in server.registers[-1]["running"]
    } == {"job_run", "job_long"}
    k = server.kinds("job_run")
    assert k.count("started") == 1 and k.count("exited") == 1
    assert "".join(chunk["data"] for chunk in server.of("job_run", "log")) == "begin\nend\n"
    assert server.of("job_run", "exited")[0]["exit_code"] == 4
    # cancel the long one through the server
    long_pid = int(server.of("job_long", "started")[0]["engine_id"].split(":")[1])
    with server.lock:
        server.cancel = [{"job_id": "job_long", "attempt": 0}]
    wait_for(lambda: "exited" in server.kinds("job_long"))
    assert not group_alive(long_pid)
    stop2.set()
    thread2.join(5)
    # third start: nothing left to reattach
    assert LocalExecutor(tmp_path / "jobs").reattach() == []


# A preempt from the server: the agent stops the job with the server's grace and reports the
# exit with the reason.


class GraceExecutor(FakeExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.graces: list[float] = []

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        self.graces.append(grace_seconds)
        super().cancel(engine_id, grace_seconds)


class PreemptingServer(Server):
    def __init__(self) -> None:
        super().__init__()
        self.preempt: list[dict[str, Any]] = []
        self.features: list[list[str]] = []

    def __call__(self, request):  # type: ignore[no-untyped-def]
        response = super().__call__(request)
        if request.url.path.endswith("poll"):
            self.features.append(json.loads(request.content).get("features", []))
            with self.lock:
                body = json.loads(response.content) | {"preempt": self.preempt}
                self.preempt = []
            return type(response)(200, json=body)
        return response


def test_preempt_stops_with_the_servers_grace_and_reports_the_reason(tmp_path: Path) -> None:
    server, ex = PreemptingServer(), GraceExecutor()
    server.leases = [lease("job_p")]
    _agent, stop, thread = start(server, ex, tmp_path)
    wait_for(lambda: "started" in server.kinds("job_p"))
    ref = {"job_id": "job_p", "attempt": 0}
    with server.lock:
        server.preempt = [ref | {"grace_seconds": 42.0, "reason": "preempted by job_x"}]
    wait_for(lambda: "exited" in server.kinds("job_p"))
    stop.set()
    thread.join(timeout=10)
    (exited,) = server.of("job_p", "exited")
    assert exited["reason"] == "preempted by job_x"
    assert ex.graces == [42.0]
    assert all("preempt" in f for f in server.features)


def queued_lease(job_id: str) -> dict[str, Any]:
    """A backlog lease: no devices named, the engine queues it for two A100s."""
    return Lease(
        job_id=job_id,
        attempt=0,
        spec=JobSpec(name="t", command="true", resources={"accelerators": 2}),
        devices=[],
        visibility_env={},
        expires_at=0,
        queued=True,
        chip="a100",
    ).model_dump(mode="json")


def test_backlog_lease_reports_started_only_when_the_engine_starts_it(tmp_path: Path) -> None:
    server, ex = Server(), FakeExecutor()
    server.leases = [queued_lease("job_q"), queued_lease("job_c")]
    _agent, stop, thread = start(server, ex, tmp_path, usage_interval=0.1)
    wait_for(lambda: len(ex.jobs) == 2)
    ids = {j.ref.job_id: e for e, j in ex.jobs.items()}
    assert all(ex.jobs[e].status is QUEUED for e in ids.values())
    assert ex.submitted[0].queued and ex.submitted[0].device_count == 2
    time.sleep(0.5)  # several ticks in the engine's queue: no Started, no usage
    assert server.kinds("job_q") == []
    assert {r["job_id"] for r in server.running_seen[-1]} == {"job_q", "job_c"}  # renewed
    ex.jobs[ids["job_q"]].status = RUNNING  # the engine starts it
    wait_for(lambda: "usage" in server.kinds("job_q"))
    assert server.kinds("job_q")[0] == "started"
    assert all(u["devices"] == 2 for u in server.of("job_q", "usage"))
    ex.finish(ids["job_q"], 0)
    wait_for(lambda: "exited" in server.kinds("job_q"))
    # cancelled while still queued: it never started, so only its exit is reported
    with server.lock:
        server.cancel = [{"job_id": "job_c", "attempt": 0}]
    wait_for(lambda: "exited" in server.kinds("job_c"))
    assert server.kinds("job_c") == ["exited"]
    stop.set()
    thread.join(5)
