"""Leader election (issue 9): of two contenders on one database only one leads; when the leader
lets go or its process dies, the other takes over. In-process on both engines, then with two
real scheduler processes, one of them killed with SIGKILL, scraping their metrics ports."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from huangpu.control.leader import LeaderGate, leadership_for
from huangpu.store.db import connect
from huangpu.testing.processes import SchedulerProcess, free_port


def test_only_one_of_two_contenders_leads_and_the_other_takes_over(database_url: str) -> None:
    db_a, db_b = connect(database_url), connect(database_url, migrate=False)
    a, b = LeaderGate(leadership_for(db_a)), LeaderGate(leadership_for(db_b))
    try:
        assert a() and not b()
        for _ in range(3):  # the leader keeps it, the standby keeps waiting
            assert a() and not b()
        a.release()
        assert b() and not a()
        b.release()
        assert a()
    finally:
        a.release()
        b.release()
        db_a.dispose()
        db_b.dispose()


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _leader_gauge(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    line = next((x for x in text.splitlines() if x.startswith("huangpu_scheduler_leader ")), "")
    return float(line.split()[1]) if line else None


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_scheduler_processes_never_both_lead(database_url: str, tmp_path: Path) -> None:
    connect(database_url).dispose()  # migrate once, not from two processes at once
    ports = [free_port(), free_port()]
    procs = [
        SchedulerProcess(
            home=tmp_path / name,
            database_url=database_url,
            env={
                "HUANGPU_SCHEDULER_INTERVAL_SECONDS": "0.1",
                "HUANGPU_SCHEDULER_METRICS_PORT": str(port),
            },
        )
        for name, port in zip(("a", "b"), ports, strict=True)
    ]
    try:
        procs[0].start()
        assert _wait(lambda: _leader_gauge(ports[0]) == 1.0, 20), procs[0].log_tail()
        procs[1].start()
        assert _wait(lambda: _leader_gauge(ports[1]) == 0.0, 20), procs[1].log_tail()
        for _ in range(10):  # a second of both running: the standby never leads
            assert (_leader_gauge(ports[0]), _leader_gauge(ports[1])) == (1.0, 0.0)
            time.sleep(0.1)
        assert "leader: acquired" not in procs[1].log_tail(20_000)
        procs[0].kill()  # a crash: no chance to let go
        assert _wait(lambda: _leader_gauge(ports[1]) == 1.0, 20), procs[1].log_tail()
        assert "leader: acquired" in procs[1].log_tail(20_000)
        # The cycle metrics come from the leader only.
        text = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics", timeout=2).text
        assert "huangpu_scheduler_cycle_seconds_count" in text
    finally:
        for proc in procs:
            proc.stop(timeout=5)
