"""What every engine-backed executor shares: the job's environment and a durable job record.

``job_env`` builds the environment a tenant's job sees on any engine: its spec's env, the
lease's device-visibility variable, and the ``HUANGPU_*`` variables ``huangpu.runtime`` reads
(chip, chip family, progress file, checkpoint dir). Never the agent's own environment: the
agent may hold secrets (its token, cloud credentials).

``JobRecords`` keeps one directory per job attempt under the agent's state dir, the way the
local executor does, so an agent restarted after SIGKILL finds its engine ids again::

    <job_id>-a<attempt>/
        job.json        ref, engine id, devices, chip, start time
        output.log      the engine writes the job's stdout/stderr here (Slurm; Ray copies)
        progress.jsonl  huangpu.runtime.report() appends here
        reported        the exit reached the server: never reattach again
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huangpu.agent.executors import shim
from huangpu.agent.executors.base import LOG_CHUNK, Attached, UnknownEngineId
from huangpu.core.catalog import load_catalog
from huangpu.core.domain import Node
from huangpu.core.families import FAMILIES
from huangpu.core.protocol import JobRef, Lease

JOB_FILE = "job.json"
LOG_FILE = "output.log"
PROGRESS_FILE = "progress.jsonl"
REPORTED_FILE = "reported"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:100]


def lease_chip(lease: Lease, nodes: Sequence[Node] | None) -> tuple[str | None, str | None]:
    """(catalog chip id, family) the lease landed on, or Nones for a device-less job.

    The chip comes from the agent's inventory (node + index). Without it, the family is read
    off the visibility variable the server chose (ambiguous for CUDA-compatible families, so
    the first family in catalog order that uses it wins).
    """
    by_place = {(n.name, d.index): d.chip for n in nodes or () for d in n.devices}
    for placement in lease.devices:
        chip = by_place.get((placement.node, placement.index))
        if chip is not None:
            model = load_catalog().models.get(chip)
            return chip, model.family if model else None
    if lease.chip:  # a backlog lease names the chip, not the devices
        model = load_catalog().models.get(lease.chip)
        return lease.chip, model.family if model else None
    for variable in lease.visibility_env:
        for family in FAMILIES.values():
            if family.visibility_env == variable:
                return None, family.name
    return None, None


def job_env(
    lease: Lease,
    nodes: Sequence[Node] | None,
    base: dict[str, str] | None = None,
    progress_file: Path | None = None,
    visibility: bool = True,
) -> dict[str, str]:
    """The environment of one job attempt (``base`` first, the spec's env over it).

    ``visibility=False`` leaves the device variable to the engine (a Kubernetes device plugin
    sets its own).
    """
    env = {**(base or {}), **lease.spec.env}
    if visibility:
        env.update(lease.visibility_env)
    env["HUANGPU_JOB_ID"] = lease.job_id
    env["HUANGPU_ATTEMPT"] = str(lease.attempt)
    chip, family = lease_chip(lease, nodes)
    if chip:
        env["HUANGPU_CHIP"] = chip
    if family:
        env["HUANGPU_CHIP_FAMILY"] = family
    env["HUANGPU_DEVICES"] = str(lease.device_count)
    if lease.spec.checkpoint_dir:
        env["HUANGPU_CHECKPOINT_DIR"] = lease.spec.checkpoint_dir
    if progress_file is not None:
        env["HUANGPU_PROGRESS_FILE"] = str(progress_file)
    return env


def read_chunk(path: Path, offset: int, limit: int = LOG_CHUNK) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of ``path`` from ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(limit)
    except FileNotFoundError:
        return b"", offset
    return data, offset + len(data)


@dataclass
class JobRecord:
    ref: JobRef
    dir: Path
    engine_id: str
    devices: int
    started_at: float
    extra: dict[str, Any]

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_FILE

    @property
    def progress_path(self) -> Path:
        return self.dir / PROGRESS_FILE


class JobRecords:
    """Job attempt directories under ``root``, and an in-memory index by engine id."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._by_engine: dict[str, JobRecord] = {}
        self._lock = threading.Lock()

    def dir_for(self, lease: Lease) -> Path:
        path = self.root / f"{safe_name(lease.job_id)}-a{lease.attempt}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def existing(self, lease: Lease) -> JobRecord | None:
        """The record of this lease if it was submitted and not yet reported (a repeat)."""
        path = self.root / f"{safe_name(lease.job_id)}-a{lease.attempt}"
        if (path / REPORTED_FILE).exists():
            return None
        record = self._load(path)
        if record is not None:
            with self._lock:
                self._by_engine.setdefault(record.engine_id, record)
        return record

    def save(self, lease: Lease, job_dir: Path, engine_id: str, **extra: Any) -> JobRecord:
        record = JobRecord(
            JobRef(job_id=lease.job_id, attempt=lease.attempt),
            job_dir,
            engine_id,
            lease.device_count,
            time.time(),
            dict(extra),
        )
        data = {
            "job_id": lease.job_id,
            "attempt": lease.attempt,
            "engine_id": engine_id,
            "devices": record.devices,
            "started_at": record.started_at,
            **extra,
        }
        # written before the engine id is handed back, so a crash right after loses nothing
        shim.write_json_atomic(job_dir / JOB_FILE, data)
        with self._lock:
            self._by_engine[engine_id] = record
        return record

    def get(self, engine_id: str) -> JobRecord:
        with self._lock:
            record = self._by_engine.get(engine_id)
        if record is None:
            raise UnknownEngineId(f"no job with engine id {engine_id!r}")
        return record

    def live(self) -> list[JobRecord]:
        with self._lock:
            return list(self._by_engine.values())

    def unreported(self) -> Iterator[JobRecord]:
        """Every record on disk whose exit has not reached the server, indexed again."""
        for job_file in sorted(self.root.glob(f"*/{JOB_FILE}")):
            if (job_file.parent / REPORTED_FILE).exists():
                continue
            record = self._load(job_file.parent)
            if record is None:
                continue
            with self._lock:
                self._by_engine.setdefault(record.engine_id, record)
            yield record

    def attached(self, record: JobRecord) -> Attached:
        return Attached(record.ref, record.engine_id, record.devices, record.started_at)

    def forget(self, engine_id: str, why: str = "reported") -> None:
        with self._lock:
            record = self._by_engine.pop(engine_id, None)
        if record is not None:
            (record.dir / REPORTED_FILE).write_text(f"{why}\n")

    @staticmethod
    def _load(job_dir: Path) -> JobRecord | None:
        try:
            data = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not data.get("engine_id"):
            return None
        known = {"job_id", "attempt", "engine_id", "devices", "started_at"}
        return JobRecord(
            JobRef(job_id=data["job_id"], attempt=int(data["attempt"])),
            job_dir,
            str(data["engine_id"]),
            int(data.get("devices", 0)),
            float(data.get("started_at", time.time())),
            {k: v for k, v in data.items() if k not in known},
        )


def minimal_path() -> str:
    """PATH for a job started by an engine: the agent's Python first (the job may import
    huangpu.runtime), then the usual system directories."""
    import sys

    parts = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
    return os.pathsep.join(dict.fromkeys(parts))


class RecordBackedExecutor:
    """What every engine-backed executor does the same way, since its per-job state (log,
    progress file, exit, reported mark) lives in ``JobRecords`` under the agent's state dir."""

    records: JobRecords

    def progress(
        self, engine_id: str, offset: int = 0, limit: int = LOG_CHUNK
    ) -> tuple[bytes, int]:
        return read_chunk(self.records.get(engine_id).progress_path, offset, limit)

    def reattach(self) -> list[Attached]:
        return [self.records.attached(r) for r in self.records.unreported()]

    def forget(self, engine_id: str) -> None:
        self.records.forget(engine_id)
