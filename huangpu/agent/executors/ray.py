"""Ray executor: each job attempt is one Ray job (Jobs API); engine id ``ray:<submission_id>``.

Ray is an optional extra (``pip install 'huangpu[ray]'``): this module imports
``ray.job_submission`` only when an executor is built, and says how to install it if missing.

The submission id is derived from the lease (``huangpu-<job>-a<attempt>``), so a repeated
submit after an agent crash finds the job Ray already runs instead of starting a second one.
NVIDIA chips are asked for with ``entrypoint_num_gpus``; every other family with a custom
resource, by default named after the family's torch device (``{"npu": 8}`` for Ascend), which
is how such a cluster's nodes are started (``ray start --resources='{"npu": 8}'``).

The entrypoint runs on the head node (Ray's default), in the spec's workdir, which must exist
there. The progress file lives in the agent's state dir, so progress reaches the agent only
where the head shares that file system with it (as on a single host).
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from pathlib import Path
from typing import Any

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
)
from huangpu.core.catalog import load_catalog
from huangpu.core.domain import Device, Node
from huangpu.core.errors import InvalidInput
from huangpu.core.families import FAMILIES
from huangpu.core.protocol import Lease

log = logging.getLogger(__name__)

INSTALL_HINT = "the Ray executor needs Ray: pip install 'huangpu[ray]'"
_TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def _job_submission() -> Any:
    try:
        from ray import job_submission
    except ImportError as error:
        raise ExecutorUnavailable(INSTALL_HINT) from error
    return job_submission


def _status_name(status: Any) -> str:
    """'SUCCEEDED' from a JobStatus (a str-mixin Enum, whose str() is 'JobStatus.SUCCEEDED')."""
    return str(getattr(status, "value", status))


def parse_resource_map(text: str | None) -> dict[str, str]:
    """``GPU=a100,npu=910b`` -> Ray resource name -> catalog chip id."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, chip = part.partition("=")
        if not sep or not name.strip() or not chip.strip():
            raise InvalidInput(
                f"ray resources: cannot read {part!r}; expected e.g. 'GPU=a100,npu=910b'",
                "ray_resources",
            )
        mapping[name.strip()] = load_catalog().resolve(chip.strip(), field="ray_resources").id
    return mapping


def ray_resources(family: str | None, count: int) -> tuple[float | None, dict[str, float]]:
    """(entrypoint_num_gpus, entrypoint_resources) for ``count`` devices of ``family``."""
    if not family or count <= 0:
        return None, {}
    if family == "nvidia":
        return float(count), {}
    return None, {FAMILIES[family].torch_device: float(count)}


class RayExecutor(RecordBackedExecutor):
    def __init__(
        self,
        state_dir: Path,
        *,
        address: str = "http://127.0.0.1:8265",
        resource_map: dict[str, str] | None = None,
        cache_seconds: float = 1.0,
    ) -> None:
        self.address = address.rstrip("/")
        self.records = JobRecords(Path(state_dir))
        self.resource_map = dict(resource_map or {"GPU": "a100", "npu": "910b2"})
        self.cache_seconds = cache_seconds
        self._nodes: list[Node] | None = None
        self._client_obj: Any = None
        self._status: dict[str, tuple[str, Any]] = {}
        self._status_at = -1e9
        self._logs: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._client()  # fail fast: no Ray, or no cluster at that address

    def _client(self) -> Any:
        if self._client_obj is None:
            module = _job_submission()
            try:
                self._client_obj = module.JobSubmissionClient(self.address)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ExecutorUnavailable(f"Ray Jobs API at {self.address}: {error}") from error
        return self._client_obj

    # -- Executor ---------------------------------------------------------------------------

    def discover(self) -> list[Node]:
        """One node per alive Ray node, devices from its mapped resources (state API)."""
        try:
            response = httpx.get(
                f"{self.address}/api/v0/nodes", params={"detail": "1"}, timeout=10, trust_env=False
            )
            rows = response.json()["data"]["result"]["result"]
        except (httpx.HTTPError, ValueError, KeyError) as error:
            raise ExecutorUnavailable(f"Ray state API at {self.address}: {error!r}") from error
        catalog = load_catalog()
        nodes: list[Node] = []
        for row in rows:
            if row.get("state") != "ALIVE":
                continue
            devices: list[Device] = []
            for resource, chip in self.resource_map.items():
                for _ in range(int(row.get("resources_total", {}).get(resource, 0))):
                    model = catalog.models[chip]
                    devices.append(
                        Device(index=len(devices), chip=chip, memory_gib=model.memory_gib)
                    )
            if devices:
                nodes.append(
                    Node(name=str(row.get("node_name") or row["node_id"]), devices=devices)
                )
        self._nodes = nodes
        return list(nodes)

    def set_nodes(self, nodes: list[Node]) -> None:
        self._nodes = list(nodes)

    def submit(self, lease: Lease) -> str:
        again = self.records.existing(lease)
        if again is not None:
            return again.engine_id
        spec = lease.spec
        if spec.resources.nodes > 1:
            raise SubmitFailed("the Ray executor runs single-node jobs only (no gangs yet)")
        job_dir = self.records.dir_for(lease)
        (job_dir / "progress.jsonl").unlink(missing_ok=True)
        submission_id = f"huangpu-{lease.job_id}-a{lease.attempt}"
        _, family = lease_chip(lease, self._nodes)
        gpus, resources = ray_resources(family, lease.device_count)
        # Ray sets CUDA_VISIBLE_DEVICES itself for num_gpus; custom resources pin nothing,
        # so the lease's variable is passed as is.
        env = job_env(lease, self._nodes, progress_file=job_dir / "progress.jsonl")
        if gpus:
            env.pop("CUDA_VISIBLE_DEVICES", None)
        env["PYTHONUNBUFFERED"] = "1"
        entrypoint = f"/bin/sh -c {shlex.quote(spec.command)}"
        if spec.workdir:
            entrypoint = f"cd {shlex.quote(spec.workdir)} && {entrypoint}"
        try:
            self._client().submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env={"env_vars": env},
                metadata={"huangpu_job": lease.job_id, "huangpu_attempt": str(lease.attempt)},
                entrypoint_num_cpus=0,
                entrypoint_num_gpus=gpus,
                entrypoint_resources=resources or None,
            )
        except RuntimeError as error:
            if "already exists" not in str(error):
                raise SubmitFailed(f"Ray refused the job: {error}") from error
            log.info("Ray job %s already exists: attaching to it", submission_id)
        except ConnectionError as error:
            raise ExecutorUnavailable(f"Ray Jobs API: {error}") from error
        engine_id = f"ray:{submission_id}"
        self.records.save(lease, job_dir, engine_id, submission_id=submission_id)
        return engine_id

    def poll(self, engine_id: str) -> ExecStatus:
        self.records.get(engine_id)
        submission_id = engine_id.partition(":")[2]
        status, info = self._cached(submission_id)
        if status is None:
            return ExecStatus(ExecState.LOST, detail=f"Ray no longer knows job {submission_id}")
        if status not in _TERMINAL:
            return QUEUED if status == "PENDING" else RUNNING
        end = (info.end_time / 1000.0) if getattr(info, "end_time", None) else time.time()
        if status == "SUCCEEDED":
            return ExecStatus(ExecState.EXITED, 0, end)
        code = getattr(info, "driver_exit_code", None)
        message = (getattr(info, "message", "") or "").strip()
        if status == "FAILED" and code is not None and code != 0:
            return ExecStatus(ExecState.EXITED, int(code), end, message)
        return ExecStatus(ExecState.EXITED, None, end, f"ray job {status}: {message}"[:2000])

    def cancel(self, engine_id: str, grace_seconds: float = 10.0) -> None:
        self.records.get(engine_id)
        submission_id = engine_id.partition(":")[2]
        try:
            self._client().stop_job(submission_id)  # SIGTERM, then SIGKILL after Ray's wait
        except RuntimeError as error:
            raise ExecutorError(f"Ray stop_job {submission_id}: {error}") from error
        deadline = time.monotonic() + grace_seconds + 30.0
        while time.monotonic() < deadline:
            if _status_name(self._client().get_job_status(submission_id)) in _TERMINAL:
                return
            time.sleep(0.3)
        raise ExecutorError(f"Ray job {submission_id} did not stop")

    def logs(self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
        self.records.get(engine_id)
        submission_id = engine_id.partition(":")[2]
        with self._lock:
            fetched_at, data = self._logs.get(submission_id, (-1e9, b""))
        if offset >= len(data) and time.monotonic() - fetched_at > self.cache_seconds:
            try:
                data = self._client().get_job_logs(submission_id).encode()
            except RuntimeError:
                data = b""
            with self._lock:
                self._logs[submission_id] = (time.monotonic(), data)
        chunk = data[offset : offset + limit]
        return chunk, offset + len(chunk)

    def forget(self, engine_id: str) -> None:
        super().forget(engine_id)
        with self._lock:
            self._logs.pop(engine_id.partition(":")[2], None)

    # -- helpers ----------------------------------------------------------------------------

    def _cached(self, submission_id: str) -> tuple[str | None, Any]:
        with self._lock:
            stale = time.monotonic() - self._status_at > self.cache_seconds
            known = self._status.get(submission_id)
        if stale or known is None or known[0] in _TERMINAL:
            try:
                jobs = self._client().list_jobs()
            except (RuntimeError, ConnectionError) as error:
                raise ExecutorUnavailable(f"Ray Jobs API: {error}") from error
            table = {
                j.submission_id: (_status_name(j.status), j)
                for j in jobs
                if j.submission_id is not None
            }
            with self._lock:
                self._status, self._status_at = table, time.monotonic()
                known = table.get(submission_id)
        return known if known is not None else (None, None)
