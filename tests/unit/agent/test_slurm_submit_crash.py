"""An agent killed between ``sbatch`` and writing its record must not submit the lease twice:
the restarted agent finds the write-ahead mark and adopts Slurm's job by its name."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from huangpu.agent.executors.base import ExecutorError, SubmitFailed
from huangpu.agent.executors.common import JobRecords
from huangpu.agent.executors.slurm import (
    SUBMITTING_FILE,
    SlurmExecutor,
    SlurmJobSpec,
    SlurmJobState,
    slurm_job_name,
)
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import DevicePlacement, Lease


class FakeSlurm:
    """In-memory stand-in for slurmrestd: every submit is a new job, as sbatch's is."""

    name = "fake"

    def __init__(self) -> None:
        self.submitted: dict[int, SlurmJobSpec] = {}
        self.refuse = False

    def nodes(self) -> list[dict[str, Any]]:
        return [{"name": "n1", "gres": "gpu:2", "state": "idle"}]

    def submit(self, job: SlurmJobSpec) -> int:
        if self.refuse:
            raise ExecutorError("invalid partition")
        job_id = 100 + len(self.submitted)
        self.submitted[job_id] = job
        return job_id

    def jobs(self) -> dict[int, SlurmJobState]:
        return {i: SlurmJobState("RUNNING", name=j.name) for i, j in self.submitted.items()}

    def job(self, job_id: int) -> SlurmJobState | None:
        return self.jobs().get(job_id)

    def cancel(self, job_id: int, signal: str | None = None) -> None:
        self.submitted.pop(job_id, None)


def _lease(attempt: int = 0) -> Lease:
    return Lease(
        job_id="job_1",
        attempt=attempt,
        spec=JobSpec(name="t", command="true", resources={"accelerators": 1}),
        devices=[DevicePlacement(node="n1", index=0)],
        visibility_env={"CUDA_VISIBLE_DEVICES": "0"},
        expires_at=time.time() + 60,
    )


def _executor(state: Path, slurm: FakeSlurm) -> SlurmExecutor:
    ex = SlurmExecutor(state, transport=slurm)
    ex.discover()
    return ex


def test_killed_between_sbatch_and_record_adopts_instead_of_resubmitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slurm = FakeSlurm()
    first = _executor(tmp_path, slurm)

    def killed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("agent killed right after sbatch")

    monkeypatch.setattr(JobRecords, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        first.submit(_lease())
    monkeypatch.undo()
    assert len(slurm.submitted) == 1

    restarted = _executor(tmp_path, slurm)
    engine_id = restarted.submit(_lease())

    assert len(slurm.submitted) == 1, "the lease was submitted to Slurm twice"
    assert engine_id == "slurm:100"
    assert restarted.records.get(engine_id).ref.job_id == "job_1"
    assert not any(tmp_path.rglob(SUBMITTING_FILE))
    # and a repeat of the same lease is still the same job
    assert restarted.submit(_lease()) == engine_id
    assert len(slurm.submitted) == 1


def test_mark_without_a_slurm_job_submits_and_a_new_attempt_is_a_new_job(tmp_path: Path) -> None:
    slurm = FakeSlurm()
    ex = _executor(tmp_path, slurm)
    lease = _lease()
    (ex.records.dir_for(lease) / SUBMITTING_FILE).touch()  # died before sbatch went through
    assert ex.submit(lease) == "slurm:100"
    assert ex.submit(_lease(attempt=1)) == "slurm:101"
    assert [j.name for j in slurm.submitted.values()] == [
        slurm_job_name(_lease()),
        slurm_job_name(_lease(attempt=1)),
    ]


def test_a_refused_submit_leaves_no_mark(tmp_path: Path) -> None:
    slurm = FakeSlurm()
    slurm.refuse = True
    ex = _executor(tmp_path, slurm)
    with pytest.raises(SubmitFailed):
        ex.submit(_lease())
    assert not any(tmp_path.rglob(SUBMITTING_FILE))
