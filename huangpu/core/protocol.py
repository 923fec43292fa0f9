"""Every wire payload of the agent protocol, in one module (DESIGN.md, "Agent protocol").

Pull-based so agents work behind NAT: the agent registers, long-polls for leases (the poll is
its heartbeat), and reports events with a per-agent sequence number so repeats are ignored.
A lease is bound to a job *attempt*: a report about an older attempt is answered "stop it".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from huangpu.core.catalog import load_catalog
from huangpu.core.domain import ExecutorKind, Node
from huangpu.core.jobspec import JobSpec

MAX_EVENTS_PER_REPORT = 1000
MAX_LOG_CHUNK = 256 * 1024


# Counters and offsets fit a 32-bit database integer (PostgreSQL's INTEGER), so an absurd
# value is a 422 here rather than an overflow in the store.
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Wire(BaseModel):
    # NaN and Infinity are not JSON, though Python's parser accepts them; a NaN in a usage
    # sample would poison every sum the ledger makes from it.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JobRef(_Wire):
    job_id: str
    attempt: Int32


class RunningJob(JobRef):
    engine_id: str | None = None


class RegisterRequest(_Wire):
    agent_name: Annotated[str, Field(min_length=1, max_length=128)]
    executor: ExecutorKind = ExecutorKind.LOCAL
    nodes: Annotated[list[Node], Field(max_length=100_000)]
    running: list[RunningJob] = []
    version: str = ""

    @model_validator(mode="after")
    def _consistent_inventory(self) -> RegisterRequest:
        # The store keys nodes by name and devices by (node, index), and the scheduler looks
        # every chip up in the catalog: a duplicate or an unknown chip is bad input here,
        # never an integrity error in the store or a failing scheduler cycle later.
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("node names must be unique within one agent")
        catalog = load_catalog()
        for i, node in enumerate(self.nodes):
            indexes = [d.index for d in node.devices]
            if len(set(indexes)) != len(indexes):
                raise ValueError(f"nodes[{i}]: device indexes must be unique within a node")
            for d in node.devices:
                catalog.resolve(d.chip, field=f"nodes[{i}].devices[{d.index}].chip")
        return self


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
    # A backlog lease (engine-backed pools, docs/executors.md): no devices are named yet; the
    # engine queues the job for ``spec.resources`` of ``chip`` and starts it when it has
    # room. The agent reports Started only once the engine really runs it.
    queued: bool = False
    chip: str = ""

    @property
    def device_count(self) -> int:
        """Devices the attempt runs on: those named, or for a backlog lease what it asks for."""
        if self.devices or not self.queued:
            return len(self.devices)
        return self.spec.resources.accelerators * self.spec.resources.nodes


# What an agent may declare in ``PollRequest.features``: it understands ``PollResponse.preempt``.
FEATURE_PREEMPT = "preempt"
# ... and it understands backlog leases (``Lease.queued``): an older agent is never sent one.
FEATURE_BACKLOG = "backlog"


class PollRequest(_Wire):
    agent_id: str
    running: list[RunningJob] = []
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 10.0
    # Capabilities of a newer agent; older agents send none (upgrade the server first).
    features: Annotated[list[str], Field(max_length=16)] = []


class PreemptRef(JobRef):
    """Stop this attempt so a waiting job can start: signal it to checkpoint, kill it after
    ``grace_seconds``, and report its exit; the server requeues it."""

    grace_seconds: Annotated[float, Field(ge=0, le=3600)]
    reason: Annotated[str, Field(max_length=500)] = ""


class PollResponse(_Wire):
    leases: list[Lease] = []
    cancel: list[JobRef] = []
    stop: list[JobRef] = []
    # Only for agents that declared FEATURE_PREEMPT; others get preempted attempts in
    # ``cancel``. Left out of the JSON when empty, because older agents reject unknown fields.
    preempt: Annotated[list[PreemptRef], Field(exclude_if=lambda refs: not refs)] = []


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
    exit_code: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    reason: Annotated[str, Field(max_length=2000)] = ""
    at: float


class LogEvent(JobRef):
    kind: Literal["log"] = "log"
    offset: Int32
    data: Annotated[str, Field(max_length=MAX_LOG_CHUNK)]


class UsageEvent(JobRef):
    kind: Literal["usage"] = "usage"
    start: float
    end: float
    devices: Int32
    device_seconds: Annotated[float, Field(ge=0)]


class ProgressEvent(JobRef):
    """Progress in the job's own units (``huangpu.runtime.report``). ``offset`` is the byte
    offset of the record in the job's progress file, so a replay can be recognised."""

    kind: Literal["progress"] = "progress"
    offset: Int32
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
    seq: Annotated[int, Field(ge=1, le=2**31 - 1)]
    events: Annotated[list[ReportEvent], Field(max_length=MAX_EVENTS_PER_REPORT)]


class ReportResponse(_Wire):
    acked_seq: int
    duplicate: bool = False
    stop: list[JobRef] = []
