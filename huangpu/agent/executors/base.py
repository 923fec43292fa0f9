"""The one narrow interface every executor implements (local, Slurm, Ray, Kubernetes).

Like an httpx transport, an executor knows nothing of the protocol loop: the runner hands it a
lease and asks about engine ids. Everything an executor must survive (an agent restart) it
keeps in its own engine or state directory, so ``reattach`` can find its jobs again.

Exceptions::

    HuangpuError (huangpu.core.errors)
    └── ExecutorError              an executor could not do what was asked
        ├── SubmitFailed           the job cannot start (bad workdir, spawn failed): the runner
        │                          reports it FAILED with this message as the reason
        ├── UnknownEngineId        no job with this engine id (never submitted, or forgotten)
        └── ExecutorUnavailable    the engine is unreachable (slurmrestd down): try again later
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

from huangpu.core.domain import Node
from huangpu.core.errors import HuangpuError
from huangpu.core.protocol import JobRef, Lease

LOG_CHUNK = 64 * 1024


class ExecutorError(HuangpuError):
    code = "executor_error"


class SubmitFailed(ExecutorError):
    code = "submit_failed"


class UnknownEngineId(ExecutorError):
    code = "unknown_engine_id"


class ExecutorUnavailable(ExecutorError):
    code = "executor_unavailable"


class ExecState(StrEnum):
    RUNNING = "running"
    EXITED = "exited"
    LOST = "lost"  # the engine no longer knows the job and left no exit record


@dataclass(frozen=True, slots=True)
class ExecStatus:
    """What an engine says about one job. ``exit_code`` is negative when killed by a signal.

    ``queued``: RUNNING as far as huangpu's lease goes, but still waiting in the engine's own
    queue (Slurm PENDING, Ray PENDING). The runner reports a backlog lease Started only once
    this turns False."""

    state: ExecState
    exit_code: int | None = None
    finished_at: float | None = None
    detail: str = ""
    queued: bool = False

    @property
    def signal(self) -> int | None:
        return -self.exit_code if self.exit_code is not None and self.exit_code < 0 else None

    @property
    def reason(self) -> str:
        """'exit code 3', 'killed by signal 9 (SIGKILL)', or the engine's detail."""
        if self.state is not ExecState.EXITED or self.exit_code is None:
            return self.detail
        if self.signal is not None:
            try:
                name = f" ({signals.Signals(self.signal).name})"
            except ValueError:
                name = ""
            return f"killed by signal {self.signal}{name}"
        return f"exit code {self.exit_code}"


RUNNING = ExecStatus(ExecState.RUNNING)
QUEUED = ExecStatus(ExecState.RUNNING, detail="queued by the engine", queued=True)


class Attached(NamedTuple):
    """A job found again after a restart, running or finished but not yet reported."""

    ref: JobRef
    engine_id: str
    devices: int = 0
    started_at: float | None = None


@runtime_checkable
class Executor(Protocol):
    def discover(self) -> list[Node]:
        """The nodes and devices this engine offers ([] when it cannot tell)."""
        ...

    def submit(self, lease: Lease) -> str:
        """Start the leased job and return its engine id; raises SubmitFailed."""
        ...

    def poll(self, engine_id: str) -> ExecStatus:
        """Running, exited (with its code), or lost. Cheap: called every loop."""
        ...

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        """Ask the job to stop, force it after ``grace_seconds``; returns when it is gone."""
        ...

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        """Up to ``limit`` bytes of output from byte ``offset``, and the offset after them."""
        ...

    def reattach(self) -> list[Attached]:
        """Jobs started before this instance that still run or whose exit was not reported."""
        ...

    def forget(self, engine_id: str) -> None:
        """The job's exit reached the server (or the job is no longer ours): never reattach it."""
        ...
