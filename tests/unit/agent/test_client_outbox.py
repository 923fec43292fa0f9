"""The protocol client against httpx.MockTransport: ordered, duplicate-free replay by seq."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from huangpu.agent.client import AgentAuthError, AgentClient, Backoff, ServerUnavailable
from huangpu.core.protocol import (
    ExitedEvent,
    LogEvent,
    Outcome,
    RegisterRequest,
    ReportEvent,
    StartedEvent,
)


class FakeServer:
    """Keeps the seq rules the real server promises; ``down`` or ``lose_replies`` break it."""

    def __init__(self, last_seq: int = 0) -> None:
        self.last_seq = last_seq
        self.applied: list[dict[str, Any]] = []  # events in the order the server applied them
        self.seen_seqs: list[int] = []
        self.down = 0  # refuse this many requests with a connection error
        self.lose_replies = 0  # apply, then drop this many replies
        self.status: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.status is not None:
            body = {"error": {"code": "x", "message": "no", "field": None}}
            return httpx.Response(self.status, json=body)
        if self.down:
            self.down -= 1
            raise httpx.ConnectError("connection refused", request=request)
        body = json.loads(request.content)
        if request.url.path == "/v1/agent/register":
            return httpx.Response(200, json=self._registered())
        if request.url.path == "/v1/agent/poll":
            return httpx.Response(200, json={"leases": [], "cancel": [], "stop": []})
        self.seen_seqs.append(body["seq"])
        duplicate = body["seq"] <= self.last_seq
        if body["seq"] == self.last_seq + 1:
            self.applied += body["events"]
            self.last_seq = body["seq"]
        if self.lose_replies:
            self.lose_replies -= 1
            raise httpx.ReadTimeout("reply lost", request=request)
        return httpx.Response(200, json={"acked_seq": self.last_seq, "duplicate": duplicate})

    def _registered(self) -> dict[str, Any]:
        return {
            "agent_id": "agent_1",
            "pool_id": "pool_1",
            "pool_name": "p",
            "lease_seconds": 20.0,
            "poll_timeout_seconds": 10.0,
            "last_seq": self.last_seq,
        }


def client_for(server: FakeServer, state_dir: Path) -> AgentClient:
    client = AgentClient("http://hub", "tok", state_dir, transport=httpx.MockTransport(server))
    client.register(RegisterRequest(agent_name="a", nodes=[]), sleep=lambda _: None)
    return client


def log(i: int) -> ReportEvent:
    return LogEvent(job_id="job_1", attempt=0, offset=i, data="x")


def offsets(server: FakeServer) -> list[int]:
    return [e["offset"] for e in server.applied]


def test_first_seq_follows_last_seq(tmp_path: Path) -> None:
    server = FakeServer(last_seq=41)
    client = client_for(server, tmp_path)
    client.report([log(0), log(1)])
    assert server.seen_seqs == [42]
    assert offsets(server) == [0, 1]
    assert len(client.outbox) == 0


def test_replay_in_order_with_same_seq_after_failures(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.down = 3
    for i in range(3):
        with pytest.raises(ServerUnavailable) as error:
            client.report([log(i)])
        assert error.value.retry_after > 0
    assert server.applied == []
    assert len(client.outbox) == 3

    result = client.flush()
    # the batch sealed as seq 1 during the outage went out again as seq 1, unchanged
    assert server.seen_seqs == [1, 2]
    assert offsets(server) == [0, 1, 2]
    assert [e.offset for e in result.acked if isinstance(e, LogEvent)] == [0, 1, 2]
    assert len(client.outbox) == 0


def test_lost_reply_is_resent_with_same_seq_and_not_applied_twice(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.lose_replies = 1
    with pytest.raises(ServerUnavailable):
        client.report([log(0)])
    client.enqueue([log(1)])
    client.flush()
    assert server.seen_seqs == [1, 1, 2]
    assert offsets(server) == [0, 1]


def test_restart_keeps_outbox_and_cursors(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.down = 99
    started = StartedEvent(job_id="job_1", attempt=0, engine_id="local:1", at=1.0)
    with pytest.raises(ServerUnavailable):
        client.report([started, LogEvent(job_id="job_1", attempt=0, offset=0, data="héllo")])
    client.enqueue([ExitedEvent(job_id="job_1", attempt=0, outcome=Outcome.SUCCEEDED, at=2.0)])
    client.close()

    server.down = 0
    again = client_for(server, tmp_path)  # a new process reading the same state dir
    cursor = again.outbox.cursor(started)
    assert (cursor.started, cursor.exited, cursor.log_offset) == (True, True, len("héllo".encode()))
    assert again.outbox.holds_exit(started)
    again.flush()
    assert server.seen_seqs == [1, 2]
    assert [e["kind"] for e in server.applied] == ["started", "log", "exited"]
    assert not again.outbox.holds_exit(started)
    assert again.outbox.cursor(started).exited  # kept until the runner forgets the job


def test_register_drops_what_the_server_already_has(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.lose_replies = 1
    with pytest.raises(ServerUnavailable):
        client.report([log(0)])  # applied as seq 1, but the agent never heard
    client.enqueue([log(1)])
    client.close()

    again = client_for(server, tmp_path)
    result = again.flush()
    assert [e.offset for e in result.acked if isinstance(e, LogEvent)] == [0, 1]
    assert server.seen_seqs == [1, 2]
    assert offsets(server) == [0, 1]


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.down = 1
    with pytest.raises(ServerUnavailable):
        client.report([log(0)])
    client.close()
    with open(tmp_path / "outbox.jsonl", "a") as handle:
        handle.write('{"event": {"kind": "lo')
    again = client_for(server, tmp_path)
    again.flush()
    assert offsets(server) == [0]


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_say_what_to_do(tmp_path: Path, status: int) -> None:
    server = FakeServer()
    server.status = status
    client = AgentClient("http://hub", "bad", tmp_path, transport=httpx.MockTransport(server))
    with pytest.raises(AgentAuthError) as error:
        client.register(RegisterRequest(agent_name="a", nodes=[]))
    assert "--token" in error.value.message
    assert "huangpu tokens create --role agent --pool" in error.value.message


def test_refused_report_is_dropped_and_seq_stays_contiguous(tmp_path: Path) -> None:
    server = FakeServer()
    client = client_for(server, tmp_path)
    server.status = 422
    result = client.report([log(0)])
    assert [e.offset for e in result.acked if isinstance(e, LogEvent)] == [0]
    server.status = None
    client.report([log(1)])
    assert server.seen_seqs == [1]
    assert offsets(server) == [1]


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.5 <= d <= 1.0 for d in delays[:1])
    assert all(d <= 8.0 for d in delays) and max(delays[4:]) >= 4.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_register_retries_until_the_server_answers(tmp_path: Path) -> None:
    server = FakeServer(last_seq=3)
    server.down = 4
    slept: list[float] = []
    client = AgentClient("http://hub", "tok", tmp_path, transport=httpx.MockTransport(server))
    response = client.register(RegisterRequest(agent_name="a", nodes=[]), sleep=slept.append)
    assert response.last_seq == 3 and len(slept) == 4
    assert slept[-1] > slept[0] / 2
