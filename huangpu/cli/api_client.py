"""A thin httpx client for the v1 API (docs/api.md), raising one exception per failure kind.

    CliError                 something to print as one red line, then exit
    ├── ApiError             the server answered 4xx/5xx with {"error": {code, message, field}}
    │                        exit 2 for 4xx (bad input), 1 for 5xx
    └── ServerUnreachable    connection refused, DNS, timeout: exit 1

Tests pass an ``httpx.MockTransport`` so no server is needed.
"""

from __future__ import annotations

from typing import Any

import httpx

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class CliError(Exception):
    """An error the CLI prints as one line plus a hint, then exits with ``exit_code``."""

    def __init__(
        self, message: str, *, exit_code: int = EXIT_FAILURE, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


class ServerUnreachable(CliError):
    pass


# What to do next, per server error code: users should never have to guess.
_HINTS = {
    "unauthorized": "check --token or HUANGPU_TOKEN; an operator can create one with "
    "`huangpu tokens create`",
    "forbidden": "this token's role, org or pool does not allow that; ask an operator for a "
    "token with the right role (`huangpu tokens create --role ...`)",
    "not_found": "check the id or name; `huangpu jobs`, `huangpu pools` and `huangpu orgs` list "
    "what exists",
    "unknown_chip": "run `huangpu chips` for the catalog",
    "unsatisfiable": "no pool could ever run this; see `huangpu pools` for capacity per chip",
    "invalid_input": "see `huangpu submit --schema` for the job spec fields",
    "illegal_transition": "see `huangpu job ID` for its current state",
    "conflict": "see `huangpu job ID` (or the listing) for the current state",
}


class ApiError(CliError):
    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        where = f" [{field}]" if field and field not in message else ""
        super().__init__(
            f"{code}{where}: {message}",
            exit_code=EXIT_BAD_INPUT if 400 <= status < 500 else EXIT_FAILURE,
            hint=_HINTS.get(code),
        )
        self.status = status
        self.code = code
        self.field = field


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
        err = body["error"]
        return ApiError(
            response.status_code, str(err["code"]), str(err["message"]), err.get("field")
        )
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        code = "server_error" if response.status_code >= 500 else f"http_{response.status_code}"
        return ApiError(response.status_code, code, text or response.reason_phrase, None)


def pool_body(
    name: str, supplier: str, region: str, executor: str, engine_backlog: int | None = None
) -> dict[str, Any]:
    """The body of ``POST /v1/pools``; ``engine_backlog`` only when set (else the default)."""
    body: dict[str, Any] = {
        "name": name,
        "supplier": supplier,
        "region": region,
        "executor": executor,
    }
    if engine_backlog is not None:
        body["engine_backlog"] = engine_backlog
    return body


class ApiClient:
    """One method per route the CLI uses; every call returns decoded JSON or raises CliError."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=clean)
        except httpx.TransportError as error:
            raise ServerUnreachable(
                f"cannot reach the huangpu server at {self.base_url}: {error}",
                hint="is the server running? start it with `huangpu server` or `huangpu up`, "
                "or point --server / HUANGPU_SERVER_URL at it",
            ) from None
        if response.status_code >= 400:
            raise _api_error(response)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    # Routes (docs/api.md). Kept narrow so the commands read like the API table.
    def healthz(self) -> Any:
        return self.get("/healthz")

    def submit_job(self, spec: dict[str, Any], org: str | None) -> Any:
        body: dict[str, Any] = {"spec": spec}
        if org:
            body["org"] = org
        return self.post("/v1/jobs", body)

    def list_jobs(
        self, state: str | None = None, org: str | None = None, limit: int | None = None
    ) -> Any:
        return self.get("/v1/jobs", state=state, org=org, limit=limit)

    def get_job(self, job_id: str) -> Any:
        return self.get(f"/v1/jobs/{job_id}")

    def job_logs(self, job_id: str, offset: int = 0) -> Any:
        return self.get(f"/v1/jobs/{job_id}/logs", offset=offset)

    def cancel_job(self, job_id: str) -> Any:
        return self.post(f"/v1/jobs/{job_id}/cancel")

    def list_pools(self) -> Any:
        return self.get("/v1/pools")

    def create_pool(
        self,
        name: str,
        supplier: str,
        region: str,
        executor: str,
        engine_backlog: int | None = None,
    ) -> Any:
        return self.post("/v1/pools", pool_body(name, supplier, region, executor, engine_backlog))

    def list_orgs(self) -> Any:
        return self.get("/v1/orgs")

    def create_org(self, name: str, category: str) -> Any:
        return self.post("/v1/orgs", {"name": name, "category": category})

    def list_suppliers(self) -> Any:
        return self.get("/v1/suppliers")

    def create_supplier(self, name: str) -> Any:
        return self.post("/v1/suppliers", {"name": name})

    def create_token(
        self,
        role: str,
        org: str | None = None,
        pool: str | None = None,
        name: str | None = None,
        ttl_seconds: float | None = None,
    ) -> Any:
        body = {"role": role, "org": org, "pool": pool, "name": name, "ttl_seconds": ttl_seconds}
        return self.post("/v1/tokens", {k: v for k, v in body.items() if v is not None})

    def list_tokens(self) -> Any:
        return self.get("/v1/tokens")
