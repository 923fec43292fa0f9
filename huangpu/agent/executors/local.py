"""Local executor: each job is ``/bin/sh -c COMMAND`` under a shim, in its own process group.

One directory per job attempt under the state dir::

    <job_id>-a<attempt>/
        job.json     written by the agent: ref, pid/pgid, engine id, devices, start time
        shim.json    written by the shim: its pid (covers an agent killed right after spawn)
        exit.json    written by the shim when the command ends: exit code (-N: signal N)
        output.log   stdout and stderr
        progress.jsonl  huangpu.runtime.report() lines, tailed by the agent
        reported     the exit reached the server: never reattach again
        work/        cwd when the spec names no workdir
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huangpu.agent.executors import shim
from huangpu.agent.executors.base import (
    LOG_CHUNK,
    RUNNING,
    Attached,
    ExecState,
    ExecStatus,
    ExecutorError,
    SubmitFailed,
    UnknownEngineId,
)
from huangpu.agent.executors.common import PROGRESS_FILE, job_env, read_chunk
from huangpu.agent.inventory import discover_nvml
from huangpu.core.domain import Node
from huangpu.core.protocol import JobRef, Lease

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
LOG_FILE = "output.log"
REPORTED_FILE = "reported"
KILL_WAIT_SECONDS = 10.0


@dataclass
class _Job:
    ref: JobRef
    dir: Path
    pid: int
    start_ticks: int | None
    devices: int
    started_at: float
    proc: subprocess.Popen[bytes] | None = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/PID/stat (state first), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True for a live, non-zombie process that is still the one started at ``start_ticks``."""
    if not Path("/proc/self/stat").exists():  # no procfs: signal 0 is the best we have
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(stat[19]) == start_ticks


def group_alive(pgid: int) -> bool:
    """Any live, non-zombie process in group ``pgid``. Zombies count as gone: nobody may reap
    orphans in a container whose PID 1 is not an init."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[0] not in ("Z", "X") and int(stat[2]) == pgid:
                return True
    return False


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:100]


# Only these reach a tenant's job from the agent's own environment: the agent may hold
# secrets (its token, cloud credentials) that must never leak into other people's code.
INHERITED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
)


def inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in INHERITED_ENV or k.startswith("LC_")}


class LocalExecutor:
    def __init__(
        self, state_dir: Path, nodes: list[Node] | None = None, agent_name: str = "local"
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._nodes = nodes
        self._agent_name = agent_name
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def discover(self) -> list[Node]:
        return list(self._nodes) if self._nodes is not None else discover_nvml(self._agent_name)

    def submit(self, lease: Lease) -> str:
        job_dir = self.state_dir / f"{_safe(lease.job_id)}-a{lease.attempt}"
        existing = self._live_engine_id(job_dir)
        if existing is not None:
            return existing  # the same lease twice: one process, not two
        spec = lease.spec
        if spec.workdir:
            cwd = Path(spec.workdir).expanduser()
            if not cwd.is_dir():
                raise SubmitFailed(
                    f"workdir {spec.workdir!r} does not exist on agent host {socket.gethostname()}"
                )
        else:
            cwd = job_dir / "work"
        job_dir.mkdir(parents=True, exist_ok=True)
        cwd.mkdir(exist_ok=True)
        for stale in (shim.EXIT_FILE, shim.PID_FILE, REPORTED_FILE, JOB_FILE):
            (job_dir / stale).unlink(missing_ok=True)
        (job_dir / PROGRESS_FILE).unlink(missing_ok=True)
        # spec env, device pinning, and what huangpu.runtime reads (chip, family, progress)
        env = job_env(lease, self._nodes, inherited_env(), job_dir / PROGRESS_FILE)
        env["PATH"] = os.pathsep.join(
            p for p in (os.path.dirname(sys.executable), env.get("PATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        record: dict[str, Any] = {
            "job_id": lease.job_id,
            "attempt": lease.attempt,
            "devices": len(lease.devices),
            "started_at": time.time(),
            "pid": None,
        }
        shim.write_json_atomic(job_dir / JOB_FILE, record)
        # the shim runs by path in isolated mode: a job's PYTHONPATH must not break it
        argv = [sys.executable, "-I", shim.__file__, str(job_dir), spec.command]
        try:
            with open(job_dir / LOG_FILE, "wb") as output:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as error:
            raise SubmitFailed(f"cannot start the job: {error}") from error
        engine_id = f"local:{proc.pid}"
        start_ticks = shim.process_start_ticks(proc.pid)
        record.update(pid=proc.pid, pgid=proc.pid, start_ticks=start_ticks, engine_id=engine_id)
        shim.write_json_atomic(job_dir / JOB_FILE, record)
        job = _Job(
            JobRef(job_id=lease.job_id, attempt=lease.attempt),
            job_dir,
            proc.pid,
            start_ticks,
            len(lease.devices),
            record["started_at"],
            proc,
        )
        with self._lock:
            self._jobs[engine_id] = job
        return engine_id

    def poll(self, engine_id: str) -> ExecStatus:
        job = self._get(engine_id)
        if job.proc is not None:
            code = job.proc.poll()
            if code is None:
                return RUNNING
            return self._exit_record(job) or ExecStatus(
                ExecState.EXITED, code, time.time(), "the shim ended without an exit record"
            )
        record = self._exit_record(job)
        if record is not None:
            return record
        if pid_alive(job.pid, job.start_ticks):
            return RUNNING
        # the shim may have written its record between the two looks
        return self._exit_record(job) or ExecStatus(
            ExecState.LOST, detail="the job's process is gone and left no exit record"
        )

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        job = self._get(engine_id)
        if not self._signal_and_wait(job, signal.SIGTERM, grace_seconds):
            log.info(
                "job %s ignored SIGTERM for %.0fs; sending SIGKILL", job.ref.job_id, grace_seconds
            )
            if not self._signal_and_wait(job, signal.SIGKILL, KILL_WAIT_SECONDS):
                raise ExecutorError(f"process group {job.pid} of {engine_id} survived SIGKILL")

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        job = self._get(engine_id)
        try:
            with open(job.dir / LOG_FILE, "rb") as handle:
                handle.seek(offset)
                data = handle.read(limit)
        except FileNotFoundError:
            return b"", offset
        return data, offset + len(data)

    def progress(
        self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK
    ) -> tuple[bytes, int]:
        """Bytes of the job's progress file (JSON lines), like ``logs``."""
        return read_chunk(self._get(engine_id).dir / PROGRESS_FILE, offset, limit)

    def set_nodes(self, nodes: list[Node]) -> None:
        """The inventory the agent registered: the chip each lease lands on comes from it."""
        self._nodes = list(nodes)

    def reattach(self) -> list[Attached]:
        found: list[Attached] = []
        for job_file in sorted(self.state_dir.glob(f"*/{JOB_FILE}")):
            if (job_file.parent / REPORTED_FILE).exists():
                continue
            loaded = self._load(job_file.parent)
            if loaded is None:
                continue
            engine_id, job = loaded
            with self._lock:
                self._jobs.setdefault(engine_id, job)
            found.append(Attached(job.ref, engine_id, job.devices, job.started_at))
        return found

    def forget(self, engine_id: str) -> None:
        with self._lock:
            job = self._jobs.pop(engine_id, None)
        if job is not None:
            (job.dir / REPORTED_FILE).write_text("reported\n")

    # -- helpers ---------------------------------------------------------------------------

    def _get(self, engine_id: str) -> _Job:
        with self._lock:
            job = self._jobs.get(engine_id)
        if job is None:
            raise UnknownEngineId(f"no local job with engine id {engine_id!r}")
        return job

    def _live_engine_id(self, job_dir: Path) -> str | None:
        if not (job_dir / JOB_FILE).exists() or (job_dir / REPORTED_FILE).exists():
            return None
        loaded = self._load(job_dir, abandon=False)
        if loaded is None or self._exit_record(loaded[1]) is not None:
            return None
        with self._lock:
            self._jobs.setdefault(*loaded)
        return loaded[0]

    def _load(self, job_dir: Path, abandon: bool = True) -> tuple[str, _Job] | None:
        """The job recorded in ``job_dir`` if it runs or left an exit record."""
        record = _read_json(job_dir / JOB_FILE)
        if record is None:
            return None
        pid_record = record if record.get("pid") else _read_json(job_dir / shim.PID_FILE)
        if not pid_record or not pid_record.get("pid"):
            if abandon:
                self._abandon(job_dir, "it never started")
            return None
        pid = int(pid_record["pid"])
        job = _Job(
            JobRef(job_id=record["job_id"], attempt=record["attempt"]),
            job_dir,
            pid,
            pid_record.get("start_ticks"),
            int(record.get("devices", 0)),
            float(record.get("started_at", time.time())),
        )
        if self._exit_record(job) is None and not pid_alive(pid, job.start_ticks):
            if abandon:
                self._abandon(job_dir, "its process is gone and left no exit record")
            return None
        return str(record.get("engine_id") or f"local:{pid}"), job

    def _exit_record(self, job: _Job) -> ExecStatus | None:
        record = _read_json(job.dir / shim.EXIT_FILE)
        if record is None:
            return None
        return ExecStatus(ExecState.EXITED, int(record["exit_code"]), record.get("finished_at"))

    def _signal_and_wait(self, job: _Job, signum: int, wait: float) -> bool:
        """Signal the job's process group; True once no live process is left in it."""
        if group_alive(job.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signum)
        deadline = time.monotonic() + wait
        while True:
            if job.proc is not None:
                job.proc.poll()  # reap the shim so it does not linger as a zombie
            if not group_alive(job.pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _abandon(self, job_dir: Path, why: str) -> None:
        log.warning(
            "not reattaching %s: %s; its lease will expire and the server requeues it",
            job_dir.name,
            why,
        )
        (job_dir / REPORTED_FILE).write_text(f"abandoned: {why}\n")
