"""Agent resilience on real engines: server, scheduler and agents are processes; Slurm
(slurmctld, slurmd, munge, slurmrestd) and a Ray head are real daemons.

- SIGKILL the agents while a Slurm job and a Ray job run, restart them: they re-attach by
  engine id, no job starts twice, and each exit is reported exactly once.
- Stop the server for 30 s: the agents keep their jobs running, buffer their reports and
  replay them in order (the job's log arrives whole and in order).
- An agent gone past its lease: its job goes LOST and is requeued on another pool; when the
  agent comes back it is told to stop the first attempt, and really scancels it.
- Kill slurmd under a running job: the job fails with Slurm's own reason (NODE_FAIL).

Chip models keep placements apart: the Slurm pool offers 910B3 (GRES ``npu``), the Ray pool
910B4 (resource ``npu``), so each job names the engine it is meant for.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from huangpu.testing.engines import RayHead, SlurmCluster
from huangpu.testing.processes import FAST_LEASES, AgentProcess, Platform, child_env

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.ray]

# Leases outlast the 30 s server outage; the LOST test builds its own 3 s-lease platform.
LONG_LEASES = {**FAST_LEASES, "HUANGPU_LEASE_SECONDS": "60"}


def engine_agent(
    plat: Platform, pool: str, executor_args: list[str], env: dict[str, str]
) -> AgentProcess:
    """A pool with an agent on a real engine, devices discovered from the engine."""
    supplier = f"{pool}-supplier"
    plat.api.create_supplier(supplier)
    kind = executor_args[1]
    plat.api.create_pool(pool, supplier, executor=kind)
    token = str(plat.api.create_token("agent", pool=pool, name=f"{pool}-agent")["token"])
    agent = AgentProcess(
        server_url=plat.url,
        token=token,
        pool=pool,
        inventory="1xA100",
        name=f"{pool}-agent",
        env={**plat.env, **env},
    )
    at = agent.argv.index("--inventory")
    del agent.argv[at : at + 2]  # discover the pool from the engine instead
    agent.argv += executor_args
    agent.start()
    try:
        plat.api.wait_for_agent(pool, timeout=60)
    except TimeoutError as error:
        agent.stop()
        raise TimeoutError(f"{error}\nagent log:\n{agent.log_tail()}") from None
    return agent


def slurm_args(cluster: SlurmCluster, chip: str) -> list[str]:
    return ["--executor", "slurm", "--slurm-rest-url", cluster.rest_url, "--gres-map",
            f"npu={chip}"]  # fmt: skip


class Engines:
    def __init__(self, plat: Platform, slurm: AgentProcess, ray: AgentProcess) -> None:
        self.plat, self.slurm, self.ray = plat, slurm, ray
        self.token = plat.tenant_tokens["acme"]

    def submit(self, command: str, chip: str, name: str = "resilience") -> str:
        spec = {"name": name, "command": command, "resources": {"chips": [chip]}}
        return str(self.plat.api.submit(spec, token=self.token)["id"])


@pytest.fixture(scope="module")
def engines(slurm_cluster: SlurmCluster, ray_head: RayHead) -> Iterator[Engines]:
    plat = Platform(env=LONG_LEASES)
    plat.start()
    agents: list[AgentProcess] = []
    try:
        plat.add_org("acme")
        agents.append(
            engine_agent(
                plat, "slurm-pool", slurm_args(slurm_cluster, "910b3"), slurm_cluster.slurm_env
            )
        )
        ray_args = ["--executor", "ray", "--ray-address", ray_head.address,
                    "--ray-resources", "npu=910b4"]  # fmt: skip
        agents.append(engine_agent(plat, "ray-pool", ray_args, {}))
        yield Engines(plat, agents[0], agents[1])
    finally:
        for agent in agents:
            agent.stop()
        plat.stop()


def slurm_jobs_named(cluster: SlurmCluster, name: str) -> list[str]:
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-n", name, "-o", "%i|%T|%r"],
        env=child_env(cluster.slurm_env), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.split()


def ray_jobs_for(head: RayHead, job_id: str) -> list[Any]:
    from ray.job_submission import JobSubmissionClient

    jobs = JobSubmissionClient(head.address).list_jobs()
    return [j for j in jobs if (j.submission_id or "").startswith(f"huangpu-{job_id}-")]


def terminal_moves(view: dict[str, Any]) -> list[Any]:
    ends = {"SUCCEEDED", "FAILED", "CANCELLED", "LOST"}
    return [h for h in view.get("history", []) if str(h.get("to_state", h.get("to"))) in ends]


def test_agents_killed_and_restarted_reattach_without_a_second_start(
    engines: Engines, slurm_cluster: SlurmCluster, ray_head: RayHead
) -> None:
    api = engines.plat.api
    on_slurm = engines.submit("echo slurm-begin; sleep 10; echo slurm-end", "910b3")
    on_ray = engines.submit("echo ray-begin; sleep 14; echo ray-end", "910b4")
    api.wait_for_logs(on_slurm, "slurm-begin", timeout=60)
    api.wait_for_logs(on_ray, "ray-begin", timeout=90)
    engines.slurm.kill()
    engines.ray.kill()
    time.sleep(2)
    engines.slurm.restart()
    engines.ray.restart()
    for job_id in (on_slurm, on_ray):
        view = api.wait_for_state(job_id, "SUCCEEDED", timeout=120)
        assert view["attempt"] == 1, view  # the first attempt: never LOST, never requeued
        assert len(terminal_moves(view)) == 1, view["history"]
    assert "slurm-end" in api.logs(on_slurm) and "ray-end" in api.logs(on_ray)
    assert len(slurm_jobs_named(slurm_cluster, f"huangpu-{on_slurm}-a1")) == 1
    assert len(ray_jobs_for(ray_head, on_slurm)) == 0
    assert len(ray_jobs_for(ray_head, on_ray)) == 1
    for agent, job_id in ((engines.slurm, on_slurm), (engines.ray, on_ray)):
        log = agent.log_path.read_text(errors="replace")
        assert "reattached job" in log
        # the exit was enqueued once across both agent lives (the outbox makes it durable)
        assert len(re.findall(rf"job {job_id} attempt 1 succeeded", log)) == 1, log[-3000:]


def test_server_down_30s_agents_buffer_and_replay_in_order(engines: Engines) -> None:
    api = engines.plat.api
    count = 35
    loop = f"for i in $(seq 1 {count}); do echo line $i; sleep 1; done"
    jobs = [engines.submit(loop, "910b3"), engines.submit(loop, "910b4")]
    for job_id in jobs:
        api.wait_for_logs(job_id, "line 2", timeout=90)
    server = engines.plat.server
    server.kill()  # by PID, no cleanup: same database and port on restart
    time.sleep(30)
    assert engines.slurm.alive() and engines.ray.alive()
    server.start()
    expected = [f"line {i}" for i in range(1, count + 1)]
    for job_id in jobs:
        view = api.wait_for_state(job_id, "SUCCEEDED", timeout=120)
        assert view["attempt"] == 1 and "LOST" not in str(view["history"])
        text = api.logs(job_id)
        # Ray's log also holds its own supervisor lines; the job's lines must all be there,
        # each once, in order
        ours = [line for line in text.splitlines() if re.fullmatch(r"line \d+", line)]
        assert ours == expected, text[-800:]


def test_slurmd_killed_under_a_job_fails_it_with_slurms_reason(
    engines: Engines, slurm_cluster: SlurmCluster
) -> None:
    api = engines.plat.api
    job_id = engines.submit("echo up; sleep 60", "910b3")
    api.wait_for_logs(job_id, "up", timeout=60)
    slurm_cluster.kill_slurmd()
    try:
        view = api.wait_for_state(job_id, "FAILED", timeout=90)
        assert "NODE_FAIL" in (view.get("reason") or ""), view
    finally:
        slurm_cluster.start_slurmd()
        slurm_cluster.wait_idle(timeout=90)


def test_agent_gone_past_its_lease_job_requeued_and_first_attempt_stopped(
    slurm_cluster: SlurmCluster,
) -> None:
    plat = Platform()  # 3 s leases
    plat.start()
    slurm_agent: AgentProcess | None = None
    try:
        token = plat.add_org("acme")
        slurm_agent = engine_agent(
            plat, "slurm-lost", slurm_args(slurm_cluster, "910b1"), slurm_cluster.slurm_env
        )
        spec = {"name": "lost", "command": "echo attempt $HUANGPU_ATTEMPT; sleep 120",
                "resources": {"chips": ["910b1"]}}  # fmt: skip
        job_id = str(plat.api.submit(spec, token=token)["id"])
        plat.api.wait_for_logs(job_id, "attempt 1", timeout=60)
        slurm_agent.kill()
        plat.add_pool("local-elsewhere", "elsewhere", "910b1", 8)
        # requeued elsewhere (an attempt may first land on the dead agent's pool before the
        # server sees it gone; its lease is never taken and it is requeued again)
        deadline = time.monotonic() + 90
        while (view := plat.api.job(job_id)).get("pool") != "local-elsewhere" or view[
            "state"
        ] != "RUNNING":
            assert time.monotonic() < deadline, view
            time.sleep(0.3)
        assert view["attempt"] >= 2 and "LOST" in str(view["history"])
        plat.api.wait_for_logs(job_id, f"attempt {view['attempt']}", timeout=30)
        first = f"huangpu-{job_id}-a1"
        assert slurm_jobs_named(slurm_cluster, first)[0].split("|")[1] == "RUNNING"
        slurm_agent.restart()  # it re-attaches attempt 1; the server answers "stop it"
        deadline = time.monotonic() + 60
        while (state := slurm_jobs_named(slurm_cluster, first)[0].split("|")[1]) == "RUNNING":
            assert time.monotonic() < deadline, f"attempt 1 still {state} on Slurm"
            time.sleep(0.5)
        # TERM first: the batch shell ends on the signal (FAILED) or Slurm kills it (CANCELLED)
        assert state in ("CANCELLED", "FAILED", "COMPLETING"), state
        plat.api.cancel(job_id, token=token)
    finally:
        if slurm_agent is not None:
            slurm_agent.stop()
        plat.stop()
