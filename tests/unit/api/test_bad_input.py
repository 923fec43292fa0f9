"""Bad input (issue 9): oversized bodies, deeply nested JSON, unicode edge cases in names, SQL
metacharacters and path traversal each get a clean 4xx in the API's error shape, and change
nothing in the database. On SQLite and on a real PostgreSQL (which refuses NUL in text, so a
missed check there would be a 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from huangpu.testing.inproc import InProcessApi

BACKGROUND = {"util_samples"}  # the wall's sampler writes these on its own clock


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[InProcessApi]:
    a = InProcessApi(tmp_path, database_url, max_body_bytes=64 * 1024)
    a.tenant = a.add_org("acme")
    a.add_pool("p1")
    yield a
    a.close()


def _counts(api: InProcessApi) -> dict[str, int]:
    return {k: v for k, v in api.row_counts().items() if k not in BACKGROUND}


def assert_clean_4xx(api: InProcessApi, method: str, url: str, status: int, **kw: Any) -> Any:
    """The request gets ``status`` with the one error shape, and no table gains or loses a row."""
    token = kw.pop("token", api.tenant)
    before = _counts(api)
    r = api.call(method, url, token, **kw)
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "field"} <= set(body["error"]), body
    assert _counts(api) == before
    return body["error"]


def _raw(obj: Any) -> dict[str, Any]:
    return {"content": json.dumps(obj), "headers": {"content-type": "application/json"}}


def spec(**extra: Any) -> dict[str, Any]:
    return {"name": "ok", "command": "true", **extra}


# --- size and shape ---------------------------------------------------------------------------


def test_oversized_body_is_413_by_content_length(api: InProcessApi) -> None:
    big = spec(command="x" * 100_000)
    err = assert_clean_4xx(api, "POST", "/v1/jobs", 413, json={"spec": big})
    assert err["code"] == "too_large"


def test_oversized_body_is_413_when_streamed_without_a_length(api: InProcessApi) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"spec": {"name": "ok", "command": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    assert_clean_4xx(api, "POST", "/v1/jobs", 413, content=chunks())


@pytest.mark.parametrize("depth", [40, 5_000, 20_000])
def test_deeply_nested_json_is_422(api: InProcessApi, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    raw = '{"spec": {"name": "ok", "command": "true", "labels": ' + nested + "}}"
    err = assert_clean_4xx(
        api, "POST", "/v1/jobs", 422, content=raw, headers={"content-type": "application/json"}
    )
    assert "nested" in err["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(api: InProcessApi) -> None:
    r = api.call("POST", "/v1/jobs", api.tenant, json={"spec": spec(command="echo " + "[{" * 100)})
    assert r.status_code == 201, r.text


def test_malformed_json_is_422(api: InProcessApi) -> None:
    assert_clean_4xx(
        api,
        "POST",
        "/v1/jobs",
        422,
        content=b'{"spec": ',
        headers={"content-type": "application/json"},
    )


# --- unicode in names -------------------------------------------------------------------------

UNICODE_NAMES = [
    "ａｃｍｅ",  # fullwidth letters that look like ASCII
    "acme\u202e",  # right-to-left override
    "ac\u200bme",  # zero-width space
    "e\u0301",  # combining accent
    "名字",
    "🚀rocket",
    "",
    "a" * 65,
]


# Job specs strip surrounding whitespace (documented), so these two are only bad as org names.
@pytest.mark.parametrize("name", [*UNICODE_NAMES, " acme", "acme\n"])
def test_unicode_edge_cases_in_org_names_are_422(api: InProcessApi, name: str) -> None:
    assert_clean_4xx(api, "POST", "/v1/orgs", 422, token=api.op, json={"name": name})


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_unicode_edge_cases_in_job_names_are_422(api: InProcessApi, name: str) -> None:
    assert_clean_4xx(api, "POST", "/v1/jobs", 422, json={"spec": spec(name=name)})


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a\\u0000b"}',  # NUL: PostgreSQL text cannot hold it
        '{"name": "a\\ud800b"}',  # a lone surrogate: no UTF-8 encoding exists
        '{"name": "ok", "category": "lab\\udfff"}',
    ],
)
def test_nul_and_lone_surrogates_are_422(api: InProcessApi, raw: str) -> None:
    assert_clean_4xx(
        api,
        "POST",
        "/v1/orgs",
        422,
        token=api.op,
        content=raw,
        headers={"content-type": "application/json"},
    )


def test_nul_in_free_text_fields_is_422(api: InProcessApi) -> None:
    for body in (
        {"role": "tenant", "org": "acme", "name": "x\u0000"},
        {"role": "tenant", "org": "ac\u0000me"},
    ):
        assert_clean_4xx(api, "POST", "/v1/tokens", 422, token=api.op, **_raw(body))
    assert_clean_4xx(api, "POST", "/v1/jobs", 422, **_raw({"spec": spec(command="a\u0000")}))


def test_nul_in_the_url_is_422(api: InProcessApi) -> None:
    assert_clean_4xx(api, "GET", "/v1/jobs/job_%00x", 422)
    assert_clean_4xx(api, "GET", "/v1/jobs?org=a%00b", 422, token=api.op)


def test_valid_surrogate_pairs_and_unicode_in_free_text_are_fine(api: InProcessApi) -> None:
    body = spec(command="echo 名字 🚀 \u202e", labels={"note": "😀"})
    r = api.call("POST", "/v1/jobs", api.tenant, **_raw({"spec": body}))
    assert r.status_code == 201, r.text
    job = api.ok("GET", f"/v1/jobs/{r.json()['id']}", api.tenant)
    assert job["spec"]["labels"]["note"] == "😀"


# --- SQL metacharacters -----------------------------------------------------------------------

SQL = ["x'; DROP TABLE jobs;--", "' OR '1'='1", 'a"b', "a;b", "%", "_", "\\"]


@pytest.mark.parametrize("text", SQL)
def test_sql_metacharacters_in_names_are_422(api: InProcessApi, text: str) -> None:
    assert_clean_4xx(api, "POST", "/v1/orgs", 422, token=api.op, json={"name": text})
    assert_clean_4xx(api, "POST", "/v1/jobs", 422, json={"spec": spec(name=text)})


@pytest.mark.parametrize("text", SQL)
def test_sql_metacharacters_in_ids_and_queries_are_404(api: InProcessApi, text: str) -> None:
    from urllib.parse import quote

    assert_clean_4xx(api, "GET", f"/v1/jobs/{quote(text, safe='')}", 404)
    assert_clean_4xx(api, "POST", f"/v1/jobs/{quote(text, safe='')}/cancel", 404)
    assert_clean_4xx(api, "GET", "/v1/jobs", 404, token=api.op, params={"org": text})
    assert_clean_4xx(
        api, "POST", "/v1/tokens", 404, token=api.op, json={"role": "tenant", "org": text}
    )


def test_sql_metacharacters_in_free_text_are_stored_verbatim(api: InProcessApi) -> None:
    command = 'echo "x\'; DROP TABLE jobs;--" % _ \\'
    r = api.call("POST", "/v1/jobs", api.tenant, json={"spec": spec(command=command)})
    assert r.status_code == 201
    job = api.ok("GET", f"/v1/jobs/{r.json()['id']}", api.tenant)
    assert job["spec"]["command"] == command
    assert "jobs" in api.row_counts()


# --- path traversal ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../etc", "/data/../../etc/passwd", "ckpt/..", "a\\..\\b"])
@pytest.mark.parametrize("field", ["workdir", "checkpoint_dir"])
def test_path_traversal_in_spec_paths_is_422(api: InProcessApi, field: str, path: str) -> None:
    err = assert_clean_4xx(api, "POST", "/v1/jobs", 422, json={"spec": spec(**{field: path})})
    assert err["field"] == f"spec.{field}"


def test_control_characters_in_spec_paths_are_422(api: InProcessApi) -> None:
    assert_clean_4xx(api, "POST", "/v1/jobs", 422, json={"spec": spec(workdir="/tmp/a\nb")})


def test_log_offsets_out_of_range_are_422(api: InProcessApi) -> None:
    job = api.ok("POST", "/v1/jobs", api.tenant, json={"spec": spec()})["id"]
    for offset in ("-1", "abc", str(2**64), "1e9"):
        assert_clean_4xx(api, "GET", f"/v1/jobs/{job}/logs?offset={offset}", 422)
    r = api.call("GET", f"/v1/stream/jobs/{job}?offset=-5", api.tenant)
    assert r.status_code == 422


def test_agent_log_offsets_and_counters_out_of_range_are_422(api: InProcessApi) -> None:
    token, agent_id = api.agents["p1"]
    ref = {"job_id": "job_x", "attempt": 1}
    bad_events = [
        {**ref, "kind": "log", "offset": 2**40, "data": "x"},
        {**ref, "kind": "log", "offset": -1, "data": "x"},
        {"job_id": "job_x", "attempt": 2**33, "kind": "started", "engine_id": "e", "at": 1.0},
    ]
    for event in bad_events:
        body = {"agent_id": agent_id, "seq": 1, "events": [event]}
        assert_clean_4xx(api, "POST", "/v1/agent/report", 422, token=token, json=body)
    body = {"agent_id": agent_id, "seq": 2**40, "events": []}
    assert_clean_4xx(api, "POST", "/v1/agent/report", 422, token=token, json=body)
    usage = '{"job_id": "j", "attempt": 1, "kind": "usage", "start": NaN, "end": Infinity, '
    usage += '"devices": 1, "device_seconds": 1}'
    nan = '{"agent_id": "' + agent_id + '", "seq": 1, "events": [' + usage + "]}"
    assert_clean_4xx(
        api,
        "POST",
        "/v1/agent/report",
        422,
        token=token,
        content=nan,
        headers={"content-type": "application/json"},
    )


def test_static_path_traversal_is_404(api: InProcessApi) -> None:
    for path in (
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fsettings.py",
    ):
        r = api.call("GET", path)
        assert r.status_code == 404, (path, r.status_code)
