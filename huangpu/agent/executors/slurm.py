"""Slurm executor: each huangpu job attempt is one Slurm batch job; engine id ``slurm:<jobid>``.

Two transports behind one small interface, chosen at start:

- ``SlurmRest``: slurmrestd's REST API (``/slurm/<version>/...``, default ``v0.0.38`` as Slurm
  22.05 ships it), authenticated with a JWT from ``scontrol token`` in the
  ``X-SLURM-USER-NAME`` / ``X-SLURM-USER-TOKEN`` headers; the token is renewed before it lapses.
- ``SlurmCli``: ``sbatch`` / ``squeue`` / ``scancel`` / ``scontrol`` (and ``sacct`` where
  slurmdbd runs), when no slurmrestd is configured or it does not answer.

A job becomes ``--nodes N --ntasks-per-node 1 --gres <name>:<count>`` with its output in the
agent's state dir. A gang (N > 1) is one multi-node allocation whose batch script starts the
command on every node with ``srun``. The script itself exports the job's environment (so no
agent variable leaks into it) and records the command's exit code next to the output, so an
exit is known even after slurmctld has purged the job (MinJobAge) on clusters without slurmdbd.

Device visibility: Slurm enforces its own GRES allocation, so where Slurm names the devices
(GRES with device files set CUDA_VISIBLE_DEVICES) the job's family variable is copied from it;
count-only GRES (e.g. ``npu:8``) set nothing, and the lease's indices are used.

Polling is cheap at any queue length: one listing of all jobs per ``cache_seconds`` serves
every ``poll``. The output file must be on a file system the agent's host shares with the
compute nodes (as a Slurm home or scratch dir usually is).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from huangpu.agent.executors.base import (
    LOG_CHUNK,
    QUEUED,
    RUNNING,
    ExecState,
    ExecStatus,
    ExecutorError,
    ExecutorUnavailable,
    SubmitFailed,
)
from huangpu.agent.executors.common import (
    JobRecords,
    RecordBackedExecutor,
    job_env,
    lease_chip,
    minimal_path,
    read_chunk,
)
from huangpu.core.catalog import load_catalog
from huangpu.core.domain import Device, Node
from huangpu.core.errors import InvalidInput
from huangpu.core.families import FAMILIES
from huangpu.core.protocol import Lease

log = logging.getLogger(__name__)

EXIT_FILE = "exit_code"
ACTIVE = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
     "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "STOPPED"}
)  # fmt: skip
# Active, but still in Slurm's queue: nothing of the job runs yet.
WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})


def parse_gres_map(text: str | None) -> dict[str, str]:
    """``gpu=a100,npu=910b`` -> {"gpu": "a100", "npu": "910b2"} (catalog ids)."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, chip = part.partition("=")
        if not sep or not name.strip() or not chip.strip():
            raise InvalidInput(
                f"gres map: cannot read {part!r}; expected e.g. 'gpu=a100,npu=910b'", "gres_map"
            )
        mapping[name.strip()] = load_catalog().resolve(chip.strip(), field="gres_map").id
    return mapping


def parse_gres(text: str) -> dict[str, int]:
    """``gpu:fake:4,npu:8(S:0)`` -> {"gpu": 4, "npu": 8}; ``(null)`` -> {}."""
    counts: dict[str, int] = {}
    for item in (text or "").split(","):
        item = item.split("(")[0].strip()
        if not item or item == "(null)":
            continue
        fields = item.split(":")
        name = fields[0]
        try:
            count = int(fields[-1]) if len(fields) > 1 else 1
        except ValueError:
            count = 1  # "gpu:a100" with no count means one
        counts[name] = counts.get(name, 0) + count
    return counts


def nodes_from_slurm(raw: Sequence[dict[str, Any]], gres_map: dict[str, str]) -> list[Node]:
    """huangpu nodes from Slurm's ``[{"name", "gres", "state"}]``: one device per GRES unit
    of a mapped name, indices numbered per node in GRES order. Down/drained nodes are offered
    with unhealthy devices so the scheduler avoids them."""
    catalog = load_catalog()
    nodes: list[Node] = []
    for entry in raw:
        state = str(entry.get("state", "")).lower()
        healthy = not any(word in state for word in ("down", "drain", "fail", "not_responding"))
        devices: list[Device] = []
        for name, count in parse_gres(str(entry.get("gres", ""))).items():
            chip = gres_map.get(name)
            if chip is None:
                continue
            model = catalog.models[chip]
            for _ in range(count):
                devices.append(
                    Device(
                        index=len(devices),
                        chip=chip,
                        memory_gib=model.memory_gib,
                        healthy=healthy,
                    )
                )
        if devices:
            nodes.append(Node(name=str(entry["name"]), devices=devices))
    return nodes


@dataclass(frozen=True)
class SlurmJobSpec:
    """Everything one submission needs, for either transport."""

    name: str
    script: str
    nodes: int
    tasks_per_node: int
    gres: str | None
    partition: str | None
    cwd: str
    output: str
    env: dict[str, str] = field(default_factory=dict)

    def sbatch_args(self) -> list[str]:
        args = [
            "--parsable",
            f"--job-name={self.name}",
            f"--nodes={self.nodes}",
            f"--ntasks-per-node={self.tasks_per_node}",
            f"--chdir={self.cwd}",
            f"--output={self.output}",
            f"--error={self.output}",
            "--export=NONE",  # the script exports the job's env; nothing of the agent's
        ]
        if self.gres:
            args.append(f"--gres={self.gres}")
        if self.partition:
            args.append(f"--partition={self.partition}")
        return args

    def rest_body(self) -> dict[str, Any]:
        job: dict[str, Any] = {
            "name": self.name,
            "nodes": self.nodes,
            "tasks_per_node": self.tasks_per_node,
            "current_working_directory": self.cwd,
            "standard_output": self.output,
            "standard_error": self.output,
            "environment": {"PATH": minimal_path()},  # slurmrestd requires a non-empty one
        }
        if self.gres:
            job["gres"] = self.gres
        if self.partition:
            job["partition"] = self.partition
        return {"script": self.script, "job": job}


@dataclass(frozen=True)
class SlurmJobState:
    state: str
    reason: str = ""
    exit_code: int | None = None  # the command's code (wait status decoded)
    signal: int | None = None
    end_time: float | None = None
    name: str = ""


class SlurmTransport(Protocol):
    name: str

    def nodes(self) -> list[dict[str, Any]]: ...

    def submit(self, job: SlurmJobSpec) -> int: ...

    def jobs(self) -> dict[int, SlurmJobState]: ...

    def job(self, job_id: int) -> SlurmJobState | None: ...

    def cancel(self, job_id: int, signal: str | None = None) -> None: ...


def _decode_wait_status(raw: int | None) -> tuple[int | None, int | None]:
    """Slurm's exit_code is a wait(2) status: (exit code, signal)."""
    if raw is None:
        return None, None
    if raw & 0x7F:
        return None, raw & 0x7F
    return (raw >> 8) & 0xFF, None


class SlurmCli:
    """The Slurm commands. Raises ExecutorUnavailable when slurmctld does not answer."""

    name = "cli"

    def __init__(self, env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.has_sacct = shutil.which("sacct") is not None

    @staticmethod
    def available() -> bool:
        return all(shutil.which(c) for c in ("sbatch", "squeue", "scancel", "scontrol"))

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=self.timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ExecutorUnavailable(f"{argv[0]}: {error}") from error
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if "Unable to contact slurm controller" in message or "Socket timed out" in message:
                raise ExecutorUnavailable(f"{argv[0]}: {message}")
            raise ExecutorError(f"{' '.join(argv[:2])}: {message}")
        return done.stdout

    def nodes(self) -> list[dict[str, Any]]:
        out = self._run(["sinfo", "-N", "-h", "-o", "%N|%c|%G|%T"])
        seen: dict[str, dict[str, Any]] = {}
        for line in out.splitlines():
            name, cpus, gres, state = [*line.split("|"), "", "", ""][:4]
            seen.setdefault(
                name, {"name": name, "cpus": int(cpus or 0), "gres": gres, "state": state}
            )
        return list(seen.values())

    def submit(self, job: SlurmJobSpec) -> int:
        out = self._run(["sbatch", *job.sbatch_args()], stdin=job.script)
        return int(out.strip().split(";")[0])

    def jobs(self) -> dict[int, SlurmJobState]:
        # the name last: it is the one field that may itself hold a "|"
        out = self._run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%j"])
        states: dict[int, SlurmJobState] = {}
        for line in out.splitlines():
            job_id, state, reason, name = [*line.split("|", 3), "", "", ""][:4]
            if job_id.isdigit():
                reason = "" if reason == "None" else reason
                states[int(job_id)] = SlurmJobState(state, reason, name=name)
        return states

    def job(self, job_id: int) -> SlurmJobState | None:
        state = self.jobs().get(job_id)
        if (state is None or state.state not in ACTIVE) and self.has_sacct:
            accounted = self._sacct(job_id)
            if accounted is not None:
                return accounted
        return state

    def _sacct(self, job_id: int) -> SlurmJobState | None:
        try:
            out = self._run(
                ["sacct", "-n", "-P", "-X", "-j", str(job_id), "-o", "State,ExitCode,Reason,End"]
            )
        except ExecutorError:
            return None  # no slurmdbd: accounting is not configured
        for line in out.splitlines():
            state, code, reason, end = [*line.split("|"), "", "", ""][:4]
            exit_code, _, signal = code.partition(":")
            end_time = None
            if end and end not in ("Unknown", "None"):
                end_time = time.mktime(time.strptime(end, "%Y-%m-%dT%H:%M:%S"))
            return SlurmJobState(
                state.split()[0],
                "" if reason == "None" else reason,
                int(exit_code) if exit_code.isdigit() else None,
                int(signal) if signal.isdigit() and signal != "0" else None,
                end_time,
            )
        return None

    def cancel(self, job_id: int, signal: str | None = None) -> None:
        argv = ["scancel", *(["--full", f"--signal={signal}"] if signal else []), str(job_id)]
        self._run(argv)


class SlurmRest:
    """slurmrestd over httpx, with a JWT from ``scontrol token`` renewed before it lapses."""

    name = "rest"
    TOKEN_LIFESPAN = 3600

    def __init__(
        self,
        url: str,
        api_version: str = "v0.0.38",
        user: str = "root",
        token: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base = f"{url.rstrip('/')}/slurm/{api_version}"
        self.user = user
        self.env = {**os.environ, **(env or {})}
        self._fixed_token = token
        self._token: str | None = token
        self._token_expires = float("inf") if token else 0.0
        self._lock = threading.Lock()
        # trust_env=False: an HTTP(S)_PROXY must never see calls to the cluster's own daemon
        self.http = httpx.Client(timeout=timeout, trust_env=False, transport=transport)

    def _headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() > self._token_expires:
                self._token = self._new_token()
                self._token_expires = time.monotonic() + self.TOKEN_LIFESPAN * 0.8
            token = self._token
        return {"X-SLURM-USER-NAME": self.user, "X-SLURM-USER-TOKEN": token}

    def _new_token(self) -> str:
        argv = ["scontrol", "token", f"username={self.user}", f"lifespan={self.TOKEN_LIFESPAN}"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ExecutorUnavailable(f"scontrol token: {error}") from error
        if done.returncode != 0 or "SLURM_JWT=" not in done.stdout:
            raise ExecutorUnavailable(f"scontrol token: {(done.stderr or done.stdout).strip()}")
        return done.stdout.strip().split("SLURM_JWT=", 1)[1]

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            response = self.http.request(
                method, f"{self.base}{path}", headers=self._headers(), json=body
            )
        except httpx.TransportError as error:
            raise ExecutorUnavailable(f"slurmrestd {method} {path}: {error!r}") from error
        if response.status_code == 401 and self._fixed_token is None:
            self._token = None  # expired early (slurmctld restarted with a new key)
        if response.status_code >= 500 or response.status_code == 401:
            raise ExecutorUnavailable(f"slurmrestd {method} {path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as error:
            raise ExecutorError(f"slurmrestd {method} {path}: not JSON") from error
        errors = [e for e in data.get("errors", []) if e.get("error_number", 1) != 0]
        if errors:
            detail = "; ".join(str(e.get("error") or e.get("description") or e) for e in errors)
            if response.status_code == 404 or "Invalid job id" in detail:
                return {"jobs": []}
            raise ExecutorError(f"slurmrestd {method} {path}: {detail}")
        return dict(data)

    def ping(self) -> None:
        self._call("GET", "/ping")

    def nodes(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/nodes").get("nodes", []))

    def submit(self, job: SlurmJobSpec) -> int:
        data = self._call("POST", "/job/submit", job.rest_body())
        if "job_id" not in data:
            raise ExecutorError(f"slurmrestd accepted no job: {json.dumps(data)[:300]}")
        return int(data["job_id"])

    @staticmethod
    def _state(entry: dict[str, Any]) -> SlurmJobState:
        code, signal = _decode_wait_status(entry.get("exit_code"))
        reason = str(entry.get("state_reason") or "")
        end = entry.get("end_time")
        return SlurmJobState(
            str(entry.get("job_state", "")),
            "" if reason == "None" else reason,
            code,
            signal,
            float(end) if end else None,
            name=str(entry.get("name") or ""),
        )

    def jobs(self) -> dict[int, SlurmJobState]:
        return {
            int(entry["job_id"]): self._state(entry)
            for entry in self._call("GET", "/jobs").get("jobs", [])
        }

    def job(self, job_id: int) -> SlurmJobState | None:
        found = self._call("GET", f"/job/{job_id}").get("jobs", [])
        return self._state(found[0]) if found else None

    def cancel(self, job_id: int, signal: str | None = None) -> None:
        suffix = f"?signal={signal}" if signal else ""
        self._call("DELETE", f"/job/{job_id}{suffix}")


def _engine_job_id(engine_id: str) -> int:
    prefix, _, number = engine_id.partition(":")
    if prefix != "slurm" or not number.isdigit():
        raise ExecutorError(f"not a Slurm engine id: {engine_id!r}")
    return int(number)


SUBMITTING_FILE = "submitting"  # the write-ahead mark of an sbatch in flight


def slurm_job_name(lease: Lease) -> str:
    """The job's name in Slurm: unique per attempt, so a restarted agent can find its job."""
    return f"huangpu-{lease.job_id}-a{lease.attempt}"[:120]


def render_script(
    command: str,
    env: dict[str, str],
    exit_file: Path,
    nodes: int,
    family_env: str | None,
    slurm_names_devices: bool,
) -> str:
    """The batch script: export the job's env, pin devices, run, record the exit code."""
    lines = ["#!/bin/sh", "# generated by the huangpu agent"]
    for key, value in sorted(env.items()):
        lines.append(f"export {key}={shlex.quote(value)}")
    if family_env and slurm_names_devices and family_env != "CUDA_VISIBLE_DEVICES":
        # Slurm enforces its own GRES choice; hand its device list to the family's variable
        lines.append(
            f'[ -n "${{CUDA_VISIBLE_DEVICES:-}}" ] && export {family_env}="$CUDA_VISIBLE_DEVICES"'
        )
    run = f"/bin/sh -c {shlex.quote(command)}"
    if nodes > 1:
        run = f"srun --export=ALL --ntasks-per-node=1 {run}"  # a gang: the command on every node
    lines += [
        run,
        "code=$?",
        f"echo $code > {shlex.quote(str(exit_file))}.tmp && "
        f"mv {shlex.quote(str(exit_file))}.tmp {shlex.quote(str(exit_file))}",
        "exit $code",
    ]
    return "\n".join(lines) + "\n"


class SlurmExecutor(RecordBackedExecutor):
    """The Executor protocol on Slurm (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        rest_url: str | None = None,
        api_version: str = "v0.0.38",
        partition: str | None = None,
        gres_map: dict[str, str] | None = None,
        user: str = "root",
        slurm_env: dict[str, str] | None = None,
        cache_seconds: float = 0.25,
        transport: SlurmTransport | None = None,
    ) -> None:
        self.records = JobRecords(Path(state_dir))
        self.partition = partition
        self.gres_map = dict(gres_map or {"gpu": "a100"})
        self.cache_seconds = cache_seconds
        self._nodes: list[Node] | None = None
        self._cache: dict[int, SlurmJobState] = {}
        self._cache_at = -1e9
        self._cache_lock = threading.Lock()
        self.transport = transport or self._pick(rest_url, api_version, user, slurm_env)
        log.info("slurm executor: using %s", self.transport.name)

    @staticmethod
    def _pick(
        rest_url: str | None, api_version: str, user: str, env: dict[str, str] | None
    ) -> SlurmTransport:
        if rest_url:
            rest = SlurmRest(rest_url, api_version, user, env=env)
            try:
                rest.ping()
                return rest
            except ExecutorError as error:
                if not SlurmCli.available():
                    raise
                log.warning("slurmrestd at %s unusable (%s); using the Slurm CLI", rest_url, error)
        if not SlurmCli.available():
            raise ExecutorUnavailable(
                "neither slurmrestd (--slurm-rest-url) nor the Slurm commands (sbatch, squeue, "
                "scancel, scontrol) are available on this host"
            )
        return SlurmCli(env)

    # -- Executor ---------------------------------------------------------------------------

    def discover(self) -> list[Node]:
        self._nodes = nodes_from_slurm(self.transport.nodes(), self.gres_map)
        return list(self._nodes)

    def set_nodes(self, nodes: list[Node]) -> None:
        """The inventory the agent registered (declared or discovered): chips come from it."""
        self._nodes = list(nodes)

    def gres_for(self, lease: Lease) -> tuple[str | None, bool]:
        """(``--gres`` value, whether Slurm names the devices) for the lease's chip."""
        per_node = lease.spec.resources.accelerators if lease.device_count else 0
        if per_node == 0:
            return None, False
        chip, family = lease_chip(lease, self._nodes)
        names = [n for n, c in self.gres_map.items() if c == chip] if chip else []
        if not names and family:
            names = [
                n for n, c in self.gres_map.items() if load_catalog().models[c].family == family
            ]
        name = names[0] if names else "gpu"
        return f"{name}:{per_node}", name == "gpu"

    def submit(self, lease: Lease) -> str:
        again = self.records.existing(lease)
        if again is not None:
            return again.engine_id  # the same lease twice: one Slurm job, not two
        spec = lease.spec
        job_dir = self.records.dir_for(lease)
        name = slurm_job_name(lease)
        intent = job_dir / SUBMITTING_FILE
        if intent.exists():
            adopted = self._adopt(lease, job_dir, name)
            if adopted is not None:
                return adopted
        cwd = spec.workdir or str(job_dir)
        for stale in (EXIT_FILE, "output.log", "progress.jsonl"):
            (job_dir / stale).unlink(missing_ok=True)
        gres, slurm_names = self.gres_for(lease)
        _, family = lease_chip(lease, self._nodes)
        family_env = FAMILIES[family].visibility_env if family else None
        env = job_env(
            lease,
            self._nodes,
            base={"PATH": minimal_path(), "HOME": os.environ.get("HOME", "/tmp")},
            progress_file=job_dir / "progress.jsonl",
        )
        env["PYTHONUNBUFFERED"] = "1"
        if slurm_names and family_env == "CUDA_VISIBLE_DEVICES":
            env.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets it from its own allocation
        job = SlurmJobSpec(
            name=name,
            script=render_script(
                spec.command,
                env,
                job_dir / EXIT_FILE,
                spec.resources.nodes,
                family_env,
                slurm_names,
            ),
            nodes=spec.resources.nodes,
            tasks_per_node=1,
            gres=gres,
            partition=self.partition,
            cwd=cwd,
            output=str(job_dir / "output.log"),
        )
        # Written before sbatch: an agent killed between sbatch and the record below finds it on
        # restart and adopts Slurm's job by its name instead of submitting the lease twice.
        intent.touch()
        try:
            slurm_id = self.transport.submit(job)
        except ExecutorUnavailable:
            raise
        except ExecutorError as error:
            intent.unlink(missing_ok=True)
            raise SubmitFailed(f"Slurm refused the job: {error}") from error
        engine_id = f"slurm:{slurm_id}"
        self.records.save(lease, job_dir, engine_id, slurm_job_id=slurm_id)
        intent.unlink(missing_ok=True)
        return engine_id

    def _adopt(self, lease: Lease, job_dir: Path, name: str) -> str | None:
        """The Slurm job an earlier agent submitted for this lease but never recorded."""
        found = sorted(i for i, s in self.transport.jobs().items() if s.name == name)
        if not found:
            return None  # sbatch never went through: submit now
        if len(found) > 1:
            log.warning("Slurm holds %d jobs named %s; adopting %d", len(found), name, found[0])
        slurm_id = found[0]
        log.info("adopting Slurm job %d (%s), submitted before the agent restarted", slurm_id, name)
        engine_id = f"slurm:{slurm_id}"
        self.records.save(lease, job_dir, engine_id, slurm_job_id=slurm_id)
        (job_dir / SUBMITTING_FILE).unlink(missing_ok=True)
        return engine_id

    def poll(self, engine_id: str) -> ExecStatus:
        record = self.records.get(engine_id)
        slurm_id = _engine_job_id(engine_id)
        state = self._cached(slurm_id)
        if state is None or state.state not in ACTIVE:
            exact = self.transport.job(slurm_id)  # squeue may lag; sacct knows more
            state = exact or state
        if state is not None and state.state in ACTIVE:
            return QUEUED if state.state in WAITING else RUNNING
        recorded = _read_exit(record.dir / EXIT_FILE)
        if state is None:
            if recorded is not None:
                return ExecStatus(ExecState.EXITED, recorded, _mtime(record.dir / EXIT_FILE))
            return ExecStatus(
                ExecState.LOST,
                detail=f"Slurm no longer knows job {slurm_id} and it left no exit code",
            )
        end = state.end_time if state.end_time and state.end_time < 4e9 else time.time()
        if state.state == "COMPLETED":
            return ExecStatus(ExecState.EXITED, 0 if recorded is None else recorded, end)
        if state.state == "FAILED" and (recorded is not None or state.exit_code is not None):
            code = recorded if recorded is not None else state.exit_code
            if state.signal is not None and recorded is None:
                code = -state.signal
            return ExecStatus(ExecState.EXITED, code, end)
        # NODE_FAIL, TIMEOUT, CANCELLED, OUT_OF_MEMORY, BOOT_FAIL, PREEMPTED, DEADLINE:
        # the engine's own words are the reason
        reason = f" ({state.reason})" if state.reason else ""
        return ExecStatus(
            ExecState.EXITED, None, end, f"slurm job {slurm_id} {state.state}{reason}"
        )

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        self.records.get(engine_id)
        slurm_id = _engine_job_id(engine_id)
        # SIGTERM to the whole job first (the batch shell and its children), then scancel,
        # which leaves Slurm's own KillWait between TERM and KILL.
        try:
            self.transport.cancel(slurm_id, "TERM")
        except ExecutorError as error:
            log.info("scancel --signal=TERM %s: %s", slurm_id, error)
        if self._wait_gone(slurm_id, grace_seconds):
            return
        self.transport.cancel(slurm_id)
        if not self._wait_gone(slurm_id, 60.0):
            raise ExecutorError(f"Slurm job {slurm_id} still active 60s after scancel")

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        return read_chunk(self.records.get(engine_id).log_path, offset, limit)

    # -- helpers ----------------------------------------------------------------------------

    def _cached(self, slurm_id: int) -> SlurmJobState | None:
        with self._cache_lock:
            if time.monotonic() - self._cache_at > self.cache_seconds:
                self._cache = self.transport.jobs()
                self._cache_at = time.monotonic()
            return self._cache.get(slurm_id)

    def _wait_gone(self, slurm_id: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            state = self.transport.job(slurm_id)
            if state is None or state.state not in ACTIVE:
                with self._cache_lock:
                    self._cache_at = -1e9
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)


def _read_exit(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
