"""Typed domain records shared by the server, the agent and the CLI."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from huangpu.core.jobspec import NAME_RE, JobSpec
from huangpu.core.states import JobState


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutorKind(StrEnum):
    LOCAL = "local"
    SLURM = "slurm"
    RAY = "ray"
    KUBERNETES = "kubernetes"


class Role(StrEnum):
    OPERATOR = "operator"
    TENANT = "tenant"
    AGENT = "agent"


class OrgCategory(StrEnum):
    STARTUP = "startup"
    LAB = "lab"
    COMPANY = "company"


Name = Annotated[str, Field(pattern=NAME_RE)]


class Org(_Record):
    id: str
    name: Name
    category: OrgCategory = OrgCategory.COMPANY


class Supplier(_Record):
    id: str
    name: Name


class Pool(_Record):
    id: str
    name: Name
    supplier_id: str
    region: Annotated[str, Field(min_length=1, max_length=64)]
    executor: ExecutorKind = ExecutorKind.LOCAL


class Device(_Record):
    index: Annotated[int, Field(ge=0, le=1023)]
    chip: Annotated[str, Field(description="catalog chip id, e.g. 910b2")]
    memory_gib: Annotated[float, Field(ge=0)]
    healthy: bool = True


class Node(_Record):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    domain: Annotated[str, Field(description="interconnect domain (switch, NVLink island)")] = (
        "default"
    )
    devices: Annotated[list[Device], Field(max_length=1024)]


class Job(_Record):
    id: str
    org_id: str
    spec: JobSpec
    state: JobState
    pool_id: str | None = None
    attempt: int = 0
    created_at: float
    updated_at: float
    exit_code: int | None = None
    reason: str | None = None
