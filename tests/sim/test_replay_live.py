"""The engine agrees with the live control loop: a short history recorded in process (API,
scheduler and agent protocol on SQLite, manual clock) is exported as a huangpu-native trace
and replayed under the same policy; each job lands on the same pool, starts in the same order,
and waits as long as it waited live."""

from __future__ import annotations

from pathlib import Path

import pytest

from huangpu.cli.sim_export import export_store
from huangpu.sim import native
from huangpu.sim.engine import SimConfig, simulate
from tests.unit.control.test_platform_flow import World


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, None)


def test_replay_matches_live_history(world: World, tmp_path: Path) -> None:
    clock = world.clock
    # Three 4-accelerator 910B jobs on one 8-device 910B pool, and one A100 job.
    jobs = [world.submit(resources={"chips": ["910B"], "accelerators": 4}) for _ in range(3)]
    a100 = world.submit(resources={"chips": ["A100"], "accelerators": 2})
    assert world.scheduler.run_once().applied == 3  # two 910B jobs and the A100 job
    leases = world.poll("p-910b")["leases"]
    started = {x["job_id"]: x for x in leases}
    assert set(started) == set(jobs[:2])
    seq = {"p-910b": 0, "p-a100": 0}

    def report(pool: str, job: str, lease: dict[str, object], kind: str) -> None:
        seq[pool] += 1
        ref = {"job_id": job, "attempt": lease["attempt"]}
        event = {**ref, "kind": kind, "at": clock.now()}
        if kind == "started":
            event["engine_id"] = f"local:{seq[pool]}"
        else:
            event.update(outcome="succeeded", exit_code=0)
        world.report(pool, seq[pool], [event])

    running: dict[str, dict[str, dict[str, object]]] = {"p-910b": {}, "p-a100": {}}

    def advance(seconds: float) -> None:
        # Heartbeat every few seconds, as agents do, so no lease expires while jobs run.
        for _ in range(int(seconds // 5)):
            clock.advance(5)
            for pool, held in running.items():
                world.poll(pool, [{"job_id": j, "attempt": x["attempt"]} for j, x in held.items()])

    for job in jobs[:2]:
        report("p-910b", job, started[job], "started")
        running["p-910b"][job] = started[job]
    a_lease = world.poll("p-a100")["leases"][0]
    report("p-a100", a100, a_lease, "started")
    running["p-a100"][a100] = a_lease
    advance(100)
    report("p-910b", jobs[0], started[jobs[0]], "exited")  # frees 4 devices at t=100
    del running["p-910b"][jobs[0]]
    assert world.scheduler.run_once().applied == 1  # job 3 takes them
    third = world.poll("p-910b")["leases"][0]
    report("p-910b", jobs[2], third, "started")
    running["p-910b"][jobs[2]] = third
    advance(50)
    report("p-910b", jobs[1], started[jobs[1]], "exited")
    report("p-a100", a100, a_lease, "exited")
    del running["p-910b"][jobs[1]], running["p-a100"][a100]
    advance(150)
    report("p-910b", jobs[2], third, "exited")

    out = tmp_path / "history.jsonl"
    assert export_store(out, world.settings.db_url) == 4
    trace = native.read_trace(out)
    r = simulate(trace, SimConfig("first-fit"))
    pools = {p.name: i for i, p in enumerate(trace.world.pools)}
    by_key = dict(zip(r.keys, range(len(r.keys)), strict=True))
    live_pool = {jobs[0]: "p-910b", jobs[1]: "p-910b", jobs[2]: "p-910b", a100: "p-a100"}
    sim_pool = {r.keys[s.job]: s.pool for s in r.segments}
    assert all(sim_pool[j] == pools[p] for j, p in live_pool.items())
    # Live: job 3 waited 100 s for job 1; the others started at once.
    waits = {j: r.first_start[by_key[j]] - r.submit[by_key[j]] for j in live_pool}
    assert waits[jobs[2]] == pytest.approx(100, abs=1e-6)
    assert all(waits[j] == pytest.approx(0, abs=1e-6) for j in (jobs[0], jobs[1], a100))
    assert r.finish[by_key[jobs[2]]] == pytest.approx(300, abs=1e-6)
