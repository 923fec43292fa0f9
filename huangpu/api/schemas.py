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
    # Jobs a Slurm or Ray pool may queue beyond its free devices; None: its device count.
    # Other executors take none (control/backlog.py).
    engine_backlog: Annotated[int, Field(ge=0, le=100_000)] | None = None


class TokenCreate(_Body):
    role: Role
    org: str | None = None
    pool: str | None = None
    name: Annotated[str, Field(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")] = ""
    # Seconds from now until the token stops working; None: it never expires.
    ttl_seconds: Annotated[float | None, Field(gt=0, le=10 * 366 * 86400)] = None


class JobSubmit(_Body):
    spec: JobSpec
    org: str | None = None


MAX_BATCH_JOBS = 500


class JobBatchSubmit(_Body):
    """Many jobs of one org in one request: all are stored, or none (the first bad one is
    named as ``jobs[i]...``)."""

    jobs: Annotated[list[JobSpec], Field(min_length=1, max_length=MAX_BATCH_JOBS)]
    org: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


JobView = dict[str, Any]
