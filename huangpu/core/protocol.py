"""Every wire payload of the agent protocol, in one module (DESIGN.md, "Agent protocol").

Pull-based so agents work behind NAT: the agent registers, long-polls for leases (the poll is
its heartbeat), and reports events with a per-agent sequence number so repeats are ignored.
A lease is bound to a job *attempt*: a report about an older attempt is answered "stop it".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from huangpu.core.domain import ExecutorKind, Node
from huangpu.core.jobspec import JobSpec

MAX_EVENTS_PER_REPORT = 1000
MAX_LOG_CHUNK = 256 * 1024


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobRef(_Wire):
    job_id: str
    attempt: Annotated[int, Field(ge=0)]


class RunningJob(JobRef):
    engine_id: str | None = None


class RegisterRequest(_Wire):
    agent_name: Annotated[str, Field(min_length=1, max_length=128)]
    executor: ExecutorKind = ExecutorKind.LOCAL
    nodes: Annotated[list[Node], Field(max_length=100_000)]
    running: list[RunningJob] = []
    version: str = ""


class RegisterResponse(_Wire):
    agent_id: str
    pool_id: str
    pool_name: str
    lease_seconds: float
    poll_timeout_seconds: float
    last_seq: int


class DevicePlacement(_Wire):
    node: str
    index: int


class Lease(JobRef):
    spec: JobSpec
    devices: list[DevicePlacement]
    visibility_env: dict[str, str]
    expires_at: float


class PollRequest(_Wire):
    agent_id: str
    running: list[RunningJob] = []
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 10.0


class PollResponse(_Wire):
    leases: list[Lease] = []
    cancel: list[JobRef] = []
    stop: list[JobRef] = []


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StartedEvent(JobRef):
    kind: Literal["started"] = "started"
    engine_id: str
    at: float


class ExitedEvent(JobRef):
    kind: Literal["exited"] = "exited"
    outcome: Outcome
    exit_code: int | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    at: float


class LogEvent(JobRef):
    kind: Literal["log"] = "log"
    offset: Annotated[int, Field(ge=0)]
    data: Annotated[str, Field(max_length=MAX_LOG_CHUNK)]


class UsageEvent(JobRef):
    kind: Literal["usage"] = "usage"
    start: float
    end: float
    devices: Annotated[int, Field(ge=0)]
    device_seconds: Annotated[float, Field(ge=0)]


class ProgressEvent(JobRef):
    """Progress in the job's own units (``huangpu.runtime.report``). ``offset`` is the byte
    offset of the record in the job's progress file, so a replay can be recognised."""

    kind: Literal["progress"] = "progress"
    offset: Annotated[int, Field(ge=0)]
    at: float
    step: Annotated[int, Field(ge=0)] | None = None
    samples: Annotated[int, Field(ge=0)] | None = None
    metrics: dict[str, float] = {}


ReportEvent = Annotated[
    StartedEvent | ExitedEvent | LogEvent | UsageEvent | ProgressEvent,
    Field(discriminator="kind"),
]


class ReportRequest(_Wire):
    agent_id: str
    seq: Annotated[int, Field(ge=1)]
    events: Annotated[list[ReportEvent], Field(max_length=MAX_EVENTS_PER_REPORT)]


class ReportResponse(_Wire):
    acked_seq: int
    duplicate: bool = False
    stop: list[JobRef] = []
