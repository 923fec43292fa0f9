"""On a real Slurm, through slurmrestd and through the CLI fallback: an agent killed between
handing a job to Slurm and writing its record adopts that job on restart; Slurm ends up with one
job for the lease, not two."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from huangpu.agent.executors.base import ExecState
from huangpu.agent.executors.common import JobRecords
from huangpu.agent.executors.slurm import (
    SlurmCli,
    SlurmExecutor,
    SlurmRest,
    SlurmTransport,
    slurm_job_name,
)
from huangpu.core.ids import new_id
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import Lease
from huangpu.testing.engines import SlurmCluster


def _transport(kind: str, cluster: SlurmCluster) -> SlurmTransport:
    if kind == "cli":
        return SlurmCli(cluster.slurm_env)
    return SlurmRest(cluster.rest_url, "v0.0.38", "root", env=cluster.slurm_env)


@pytest.mark.parametrize("kind", ["rest", "cli"])
def test_restart_after_a_kill_mid_submit_adopts_the_slurm_job(
    kind: str, tmp_path: Path, slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = Lease(
        job_id=new_id("job"),
        attempt=0,
        spec=JobSpec(name="crash", command="sleep 30"),
        devices=[],
        visibility_env={},
        expires_at=time.time() + 60,
    )
    transport = _transport(kind, slurm_cluster)
    first = SlurmExecutor(tmp_path, transport=transport)

    def killed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("agent killed right after sbatch")

    monkeypatch.setattr(JobRecords, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        first.submit(lease)
    monkeypatch.undo()

    restarted = SlurmExecutor(tmp_path, transport=_transport(kind, slurm_cluster))
    engine_id = restarted.submit(lease)
    try:
        named = [i for i, s in transport.jobs().items() if s.name == slurm_job_name(lease)]
        assert named == [int(engine_id.removeprefix("slurm:"))]
        assert restarted.poll(engine_id).state is ExecState.RUNNING  # queued or running
    finally:
        restarted.cancel(engine_id, grace_seconds=1)
