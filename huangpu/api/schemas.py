"""Request and response bodies of the operator and tenant APIs (agent payloads live in
huangpu.core.protocol, since agents must not import the server)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from huangpu.core.domain import ExecutorKind, Name, OrgCategory, Role
from huangpu.core.jobspec import JobSpec


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrgCreate(_Body):
    name: Name
    category: OrgCategory = OrgCategory.COMPANY


class SupplierCreate(_Body):
    name: Name


class PoolCreate(_Body):
    name: Name
    supplier: Annotated[str, Field(min_length=1, max_length=64)]
    region: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    executor: ExecutorKind = ExecutorKind.LOCAL


class TokenCreate(_Body):
    role: Role
    org: str | None = None
    pool: str | None = None
    name: Annotated[str, Field(max_length=64)] = ""


class JobSubmit(_Body):
    spec: JobSpec
    org: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


JobView = dict[str, Any]
