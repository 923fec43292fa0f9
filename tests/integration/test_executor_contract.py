"""One contract, three engines: the local executor, a real Slurm and a real Ray head.

Every executor must: run the leased command with the job's env (device visibility, chip and
family for huangpu.runtime) and report its exit code; hand back its output and the job's
progress lines; answer a repeated submit with the same engine id (no second job); let a new
instance on the same state dir re-attach by engine id; forget a reported job; really stop a
cancelled one. Two jobs per engine keep Ray (8-12 s a job here) affordable.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from huangpu.agent.executors.base import ExecState, ExecStatus, Executor
from huangpu.agent.executors.local import LocalExecutor
from huangpu.agent.inventory import parse_inventory
from huangpu.core.domain import Node
from huangpu.core.jobspec import JobSpec
from huangpu.core.protocol import DevicePlacement, Lease

pytestmark = pytest.mark.slow

ENGINES = ["local", pytest.param("slurm", marks=pytest.mark.slurm),
           pytest.param("ray", marks=pytest.mark.ray)]  # fmt: skip


class Engine:
    """An executor factory on one state dir, and the node the leases land on."""

    def __init__(self, kind: str, make: Callable[[Path], Executor], node: Node) -> None:
        self.kind, self.make, self.node = kind, make, node
        self.state = Path(tempfile.mkdtemp(prefix=f"hp-contract-{kind}-"))

    def new(self) -> Executor:
        executor = self.make(self.state)
        getattr(executor, "set_nodes", lambda nodes: None)([self.node])
        return executor


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    kind = request.param
    if kind == "local":
        nodes = parse_inventory("8x910B", "a")
        yield Engine(kind, lambda d: LocalExecutor(d, nodes=nodes), nodes[0])
    elif kind == "slurm":
        from huangpu.agent.executors.slurm import SlurmExecutor

        cluster = request.getfixturevalue("slurm_cluster")

        def make_slurm(d: Path) -> Executor:
            return SlurmExecutor(
                d,
                rest_url=cluster.rest_url,
                gres_map={"gpu": "a100", "npu": "910b2"},
                slurm_env=cluster.slurm_env,
            )

        nodes = make_slurm(Path(tempfile.mkdtemp(prefix="hp-probe-"))).discover()
        yield Engine(kind, make_slurm, next(n for n in nodes if n.devices[-1].chip == "910b2"))
    else:
        from huangpu.agent.executors.ray import RayExecutor

        head = request.getfixturevalue("ray_head")

        def make_ray(d: Path) -> Executor:
            return RayExecutor(d, address=head.address, resource_map={"npu": "910b2"})

        yield Engine(kind, make_ray, make_ray(Path(tempfile.mkdtemp())).discover()[0])


def lease_on(engine: Engine, command: str, job_id: str) -> Lease:
    npus = [d for d in engine.node.devices if d.chip == "910b2"][:2]
    return Lease(
        job_id=job_id,
        attempt=0,
        spec=JobSpec(name="contract", command=command, resources={"accelerators": 2}),
        devices=[DevicePlacement(node=engine.node.name, index=d.index) for d in npus],
        visibility_env={"ASCEND_RT_VISIBLE_DEVICES": ",".join(str(d.index) for d in npus)},
        expires_at=time.time() + 60,
    )


def wait_status(executor: Executor, engine_id: str, timeout: float = 90) -> ExecStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = executor.poll(engine_id)
        if status.state is not ExecState.RUNNING:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{engine_id} still running after {timeout}s")
        time.sleep(0.3)


def all_output(executor: Executor, engine_id: str, read: str = "logs") -> bytes:
    data, offset = b"", 0
    for _ in range(100):
        chunk, offset = getattr(executor, read)(engine_id, offset)
        if not chunk:
            break
        data += chunk
    return data


REPORT = (
    f"{sys.executable} -c 'from huangpu import runtime; runtime.report(step=7, samples=56); "
    'print("device", runtime.device_type())\''
)


def test_exit_code_env_logs_and_progress(engine: Engine) -> None:
    executor = engine.new()
    command = (
        "echo family=$HUANGPU_CHIP_FAMILY chip=$HUANGPU_CHIP vis=$ASCEND_RT_VISIBLE_DEVICES; "
        f"{REPORT}; exit 3"
    )
    engine_id = executor.submit(lease_on(engine, command, "job_contract_exit"))
    assert engine_id.startswith(f"{engine.kind}:")
    status = wait_status(executor, engine_id)
    assert (status.state, status.exit_code) == (ExecState.EXITED, 3), status
    # Ray's log endpoint and Slurm's output file may trail the exit by a moment
    deadline = time.monotonic() + 20
    while b"device" not in (out := all_output(executor, engine_id)):
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    text = out.decode()
    assert "family=ascend chip=910b2" in text
    assert "vis=" in text and "vis=\n" not in text
    assert "device npu" in text  # runtime.device_type() from the family's torch device
    lines = all_output(executor, engine_id, "progress").decode().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [7]
    executor.forget(engine_id)
    assert engine_id not in [a.engine_id for a in engine.new().reattach()]


def test_resubmit_reattach_and_cancel(engine: Engine) -> None:
    executor = engine.new()
    lease = lease_on(engine, "echo started; sleep 300", "job_contract_cancel")
    engine_id = executor.submit(lease)
    assert executor.submit(lease) == engine_id  # a repeated lease starts nothing new

    # an agent restarted on the same state dir finds the job by its engine id
    again = engine.new()
    found = {a.engine_id: a for a in again.reattach()}
    assert engine_id in found
    assert found[engine_id].ref.job_id == "job_contract_cancel"
    assert again.submit(lease) == engine_id
    deadline = time.monotonic() + 60
    while b"started" not in all_output(again, engine_id):
        assert again.poll(engine_id).state is ExecState.RUNNING
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.3)

    again.cancel(engine_id, grace_seconds=5)
    assert again.poll(engine_id).state is not ExecState.RUNNING
