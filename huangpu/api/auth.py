"""Bearer tokens, stored hashed; each bound to a role and to an org (tenant) or pool (agent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from huangpu.control.job_service import Caller
from huangpu.core.errors import Forbidden, Unauthorized
from huangpu.store import registry


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: str
    org_id: str | None
    pool_id: str | None

    @property
    def caller(self) -> Caller:
        return Caller(self.role, self.org_id)


def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(create one with `huangpu tokens create`)",
            "authorization",
        )
    with request.app.state.platform.db.read() as session:
        row = registry.find_token(session, secret.strip())
        if row is None:
            raise Unauthorized(
                "unknown or revoked token; ask an operator for a new one", "authorization"
            )
        return Principal(row.id, row.role, row.org_id, row.pool_id)


def require(*roles: str) -> Callable[[Request], Principal]:
    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal.role not in roles:
            raise Forbidden(
                f"this route needs a {' or '.join(roles)} token; yours is a {principal.role} token",
                "authorization",
            )
        return principal

    return dependency
