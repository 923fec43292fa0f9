"""The idle-poll fast path (huangpu.api.fastpoll): it answers what the router would, refuses a
revoked or expired token at once, leaves every unusual request to the normal path (same 4xx
shapes), and is counted in the same metrics with a request id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huangpu.api.fastpoll import FastPollMiddleware
from huangpu.store.models import AgentRow
from huangpu.testing.inproc import InProcessApi

# A content type the fast path does not take but FastAPI parses as JSON all the same: the
# same request through the normal path, for comparing answers.
SLOW = {"content-type": "application/json; charset=utf-8"}
FAST = {"content-type": "application/json"}


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[InProcessApi]:
    a = InProcessApi(tmp_path, database_url, max_body_bytes=8192)
    a.tenant = a.add_org("acme")
    a.add_pool("p1")
    a.add_pool("p2")
    yield a
    a.platform.agents.heartbeats.close()
    a.close()


class Counter:
    """Wraps the application behind the fast path: counts the requests it did not answer."""

    def __init__(self, app: Any) -> None:
        self.app, self.calls = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def behind_fast_path(api: InProcessApi) -> Counter:
    api.call("GET", "/healthz")  # builds the middleware stack
    layer = api.app.middleware_stack
    while not isinstance(layer, FastPollMiddleware):
        layer = layer.app  # type: ignore[union-attr]
    counter = Counter(layer.app)
    layer.app = counter
    return counter


def poll(api: InProcessApi, token: str | None, body: Any, headers: dict[str, str]) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.call("POST", "/v1/agent/poll", token, content=content, headers=headers)


def idle(agent_id: str, **extra: Any) -> dict[str, Any]:
    return {"agent_id": agent_id, "wait_seconds": 0, **extra}


def last_seen(api: InProcessApi, agent_id: str) -> float:
    with api.db.read() as s:
        return float(s.scalar(select(AgentRow.last_seen).where(AgentRow.id == agent_id)) or 0)


def test_an_idle_poll_is_answered_fast_as_the_router_would(api: InProcessApi) -> None:
    token, agent = api.agents["p1"]
    inner = behind_fast_path(api)
    api.clock.advance(100)
    body = idle(agent, features=["preempt", "backlog"], running=[])
    fast = poll(api, token, body, {**FAST, "x-request-id": "abc-123"})
    assert inner.calls == 0
    assert last_seen(api, agent) == api.clock.now()  # the heartbeat was written
    slow = poll(api, token, body, SLOW)
    assert inner.calls == 1
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content == b'{"leases":[],"cancel":[],"stop":[]}'
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert fast.headers["content-length"] == slow.headers["content-length"]
    assert fast.headers["x-request-id"] == "abc-123"  # a sane client id is kept
    fresh = poll(api, token, body, {**FAST, "x-request-id": "no spaces allowed"})
    assert len(fresh.headers["x-request-id"]) == 16 and inner.calls == 1


def test_fast_answers_are_counted_in_the_api_metrics(api: InProcessApi) -> None:
    token, agent = api.agents["p1"]
    inner = behind_fast_path(api)
    labels = {"method": "POST", "route": "/v1/agent/poll", "status": "200"}
    registry = api.platform.metrics.registry

    def count() -> float:
        return registry.get_sample_value("huangpu_http_request_seconds_count", labels) or 0.0

    before = count()
    for _ in range(3):
        assert poll(api, token, idle(agent), FAST).status_code == 200
    assert inner.calls == 0 and count() == before + 3
    scrape = api.call("GET", "/metrics", api.op).text
    assert 'route="/v1/agent/poll",status="200"' in scrape


def test_a_revoked_token_is_refused_at_once(api: InProcessApi) -> None:
    made = api.ok("POST", "/v1/tokens", api.op, json={"role": "agent", "pool": "p1"})
    _, agent = api.agents["p1"]
    inner = behind_fast_path(api)
    assert poll(api, made["token"], idle(agent), FAST).status_code == 200  # now cached
    assert poll(api, made["token"], idle(agent), FAST).status_code == 200
    served_fast = inner.calls
    api.ok("POST", f"/v1/tokens/{made['id']}/revoke", api.op)
    r = poll(api, made["token"], idle(agent), FAST)
    assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"
    assert inner.calls == served_fast + 2  # the revoke, then the poll: not answered fast


def test_a_token_the_cache_lost_is_looked_up_and_served_fast(api: InProcessApi) -> None:
    token, agent = api.agents["p1"]
    inner = behind_fast_path(api)
    api.platform.tokens._entries.clear()  # as when the 2 s cache entry runs out
    assert poll(api, token, idle(agent), FAST).status_code == 200
    assert inner.calls == 0
    assert api.platform.tokens.cached(token)[0]  # and cached again
    r = poll(api, "never-issued", idle(agent), FAST)  # a miss that finds nothing
    assert r.status_code == 401 and inner.calls == 1


def test_an_expired_token_is_refused_though_cached(api: InProcessApi) -> None:
    body = {"role": "agent", "pool": "p1", "ttl_seconds": 60}
    made = api.ok("POST", "/v1/tokens", api.op, json=body)
    _, agent = api.agents["p1"]
    assert poll(api, made["token"], idle(agent), FAST).status_code == 200
    api.clock.advance(61)
    r = poll(api, made["token"], idle(agent), FAST)
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_a_poll_that_is_not_idle_is_handed_on_and_beats_once(
    api: InProcessApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another pool's agent: the group commit says "not idle", the router skips its own
    heartbeat and answers from the full poll, exactly as without the fast path."""
    token, _ = api.agents["p1"]
    _, other = api.agents["p2"]
    beats: list[str] = []
    real = api.platform.agents.beat
    monkeypatch.setattr(
        api.platform.agents, "beat", lambda pool, agent: beats.append(agent) or real(pool, agent)
    )
    fast = poll(api, token, idle(other), FAST)
    assert beats == [other]
    slow = poll(api, token, idle(other), SLOW)
    assert beats == [other, other]
    assert fast.status_code == slow.status_code and fast.status_code >= 400
    assert fast.json() == slow.json()


BAD = {
    "unknown field": (lambda a: idle(a, bogus=1), 422),
    "agent id not a string": (lambda a: idle(5), 422),
    "negative wait": (lambda a: {"agent_id": a, "wait_seconds": -1}, 422),
    "wait is NaN": (lambda a: b'{"agent_id": "%s", "wait_seconds": NaN}' % a.encode(), 422),
    "too many features": (lambda a: idle(a, features=["x"] * 17), 422),
    "feature not a string": (lambda a: idle(a, features=[1]), 422),
    "running not a list": (lambda a: idle(a, running={}), 422),
    "not an object": (lambda a: [a], 422),
    "bad JSON": (lambda a: b'{"agent_id": ', 422),
    "NUL in a string": (lambda a: idle(a + "\x00"), 422),
    "lone surrogate": (lambda a: b'{"agent_id": "\\ud800", "wait_seconds": 0}', 422),
    "body too large": (lambda a: idle(a, features=["x" * 9000]), 413),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_the_normal_4xx(api: InProcessApi, case: str) -> None:
    token, agent = api.agents["p1"]
    make, status = BAD[case]
    inner = behind_fast_path(api)
    fast = poll(api, token, make(agent), FAST)
    assert inner.calls == 1  # handed on, body and all
    slow = poll(api, token, make(agent), SLOW)
    assert fast.status_code == slow.status_code == status, fast.text
    assert fast.json() == slow.json() and "error" in fast.json()


@pytest.mark.parametrize(
    "who,status", [("nobody", 401), ("unknown", 401), ("tenant", 403), ("operator", 403)]
)
def test_tokens_other_than_an_agents_get_the_normal_answer(
    api: InProcessApi, who: str, status: int
) -> None:
    _, agent = api.agents["p1"]
    token = {"nobody": None, "unknown": "not-a-token", "tenant": api.tenant, "operator": api.op}
    for _ in range(2):  # the second time the token is cached
        fast = poll(api, token[who], idle(agent), FAST)
        slow = poll(api, token[who], idle(agent), SLOW)
        assert fast.status_code == slow.status_code == status
        assert fast.json() == slow.json()
