"""An in-memory executor for unit tests: jobs run until the test says they end."""

from __future__ import annotations

from dataclasses import dataclass, field

from huangpu.agent.executors.base import (
    LOG_CHUNK,
    QUEUED,
    RUNNING,
    Attached,
    ExecState,
    ExecStatus,
    SubmitFailed,
    UnknownEngineId,
)
from huangpu.core.domain import Node
from huangpu.core.protocol import JobRef, Lease


@dataclass
class FakeJob:
    ref: JobRef
    devices: int
    started_at: float = 0.0
    status: ExecStatus = RUNNING
    output: bytearray = field(default_factory=bytearray)
    cancelled: bool = False
    forgotten: bool = False


class FakeExecutor:
    def __init__(self, nodes: list[Node] | None = None) -> None:
        self.nodes = nodes or []
        self.jobs: dict[str, FakeJob] = {}
        self.submitted: list[Lease] = []
        self.fail_submit: str | None = None  # the next submit raises SubmitFailed with this
        self._next = 1

    # -- test controls ----------------------------------------------------------------------

    def write(self, engine_id: str, data: bytes) -> None:
        self.jobs[engine_id].output += data

    def finish(self, engine_id: str, exit_code: int = 0, at: float | None = None) -> None:
        self.jobs[engine_id].status = ExecStatus(ExecState.EXITED, exit_code, at)

    def lose(self, engine_id: str) -> None:
        self.jobs[engine_id].status = ExecStatus(ExecState.LOST, detail="lost in a test")

    def add_survivor(self, ref: JobRef, devices: int = 1, started_at: float = 0.0) -> str:
        """A job 'started before the agent restarted', found again by reattach()."""
        engine_id = self._new_id()
        self.jobs[engine_id] = FakeJob(ref, devices, started_at)
        return engine_id

    # -- Executor ---------------------------------------------------------------------------

    def discover(self) -> list[Node]:
        return list(self.nodes)

    def submit(self, lease: Lease) -> str:
        if self.fail_submit is not None:
            reason, self.fail_submit = self.fail_submit, None
            raise SubmitFailed(reason)
        self.submitted.append(lease)
        engine_id = self._new_id()
        ref = JobRef(job_id=lease.job_id, attempt=lease.attempt)
        # a backlog lease waits in the fake engine's queue until the test sets it RUNNING
        status = QUEUED if lease.queued else RUNNING
        self.jobs[engine_id] = FakeJob(ref, lease.device_count, status=status)
        return engine_id

    def poll(self, engine_id: str) -> ExecStatus:
        return self._get(engine_id).status

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        job = self._get(engine_id)
        job.cancelled = True
        if job.status.state is ExecState.RUNNING:
            job.status = ExecStatus(ExecState.EXITED, -15)

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        data = bytes(self._get(engine_id).output[offset : offset + limit])
        return data, offset + len(data)

    def reattach(self) -> list[Attached]:
        return [
            Attached(job.ref, engine_id, job.devices, job.started_at)
            for engine_id, job in self.jobs.items()
            if not job.forgotten
        ]

    def forget(self, engine_id: str) -> None:
        if engine_id in self.jobs:
            self.jobs[engine_id].forgotten = True

    def _get(self, engine_id: str) -> FakeJob:
        job = self.jobs.get(engine_id)
        if job is None or job.forgotten:
            raise UnknownEngineId(f"no fake job {engine_id!r}")
        return job

    def _new_id(self) -> str:
        engine_id = f"fake:{self._next}"
        self._next += 1
        return engine_id
