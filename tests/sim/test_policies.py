"""The simulator's policies on hand-made snapshots: who goes first, and where."""

from __future__ import annotations

import numpy as np

from huangpu.scheduling import SnapshotBuilder, run_cycle
from huangpu.scheduling.tables import Market, Quotas


def _snapshot(usage: list[float]) -> SnapshotBuilder:
    # Two chips, one 1-device node each; chip 0 is 4× faster for class 0, equal for class 1.
    b = SnapshotBuilder(chips=["fast", "slow"], pools=["p"], now=100.0)
    b.add_node(0, "n-fast", 0, "d", [0], 80.0)
    b.add_node(0, "n-slow", 1, "d", [0], 80.0)
    b.set_market(
        Market(classes=("resnet", "recsys"), throughput=np.array([[4.0, 1.0], [1.0, 1.0]]))
    )
    b.set_quotas(Quotas(decayed_usage=np.array(usage)))
    return b


def test_las_serves_least_attained_first() -> None:
    b = _snapshot([50.0, 10.0, 30.0])
    for i in range(3):
        b.add_job(f"j{i}", 1, 1, 0.0, [0, 1], org_index=i, priority=0, submit_time=0.0)
    placed = {p.job_key for p in run_cycle(b.build(), "las").placements}
    assert placed == {"j1", "j2"}  # the two with the least usage


def test_las_hetero_gives_the_fast_chip_to_the_job_that_gains_most() -> None:
    # recsys runs as fast on either chip; resnet is 4× faster on "fast". LAS order puts
    # recsys first, but the assignment still gives resnet the fast chip.
    b = _snapshot([0.0, 5.0])
    b.add_job("recsys", 1, 1, 0.0, [0, 1], org_index=0, priority=0, submit_time=0.0, work_class=1)
    b.add_job("resnet", 1, 1, 0.0, [0, 1], org_index=1, priority=0, submit_time=0.0, work_class=0)
    where = {p.job_key: p.node_keys[0] for p in run_cycle(b.build(), "las-hetero").placements}
    assert where == {"recsys": "n-slow", "resnet": "n-fast"}


def test_max_min_share_favours_the_job_behind_its_share() -> None:
    b = _snapshot([50.0, 50.0, 0.0])
    # Same usage, but j0 has been in the system 90 s and j1 only 10 s: j0 is further behind
    # its share and goes first; j2 has had nothing at all and goes before both.
    b.add_job("j0", 1, 1, 0.0, [0, 1], org_index=0, priority=0, submit_time=10.0)
    b.add_job("j1", 1, 1, 0.0, [0, 1], org_index=1, priority=0, submit_time=90.0)
    b.add_job("j2", 1, 1, 0.0, [0, 1], org_index=2, priority=0, submit_time=95.0)
    placed = {p.job_key for p in run_cycle(b.build(), "max-min-share").placements}
    assert placed == {"j0", "j2"}


def test_las_fair_hetero_lets_a_starved_job_in() -> None:
    # Two devices, three jobs. By attained service: new (10), mid (20), old (100). By share
    # received per second in the system: old (100 / 10,000 s) is furthest behind. LAS alone
    # runs new and mid; the guard's merged order runs new and the starved old job.
    b = SnapshotBuilder(chips=["c"], pools=["p"], now=10_000.0)
    b.add_node(0, "n", 0, "d", [0, 1], 80.0)
    b.set_quotas(Quotas(decayed_usage=np.array([100.0, 10.0, 20.0])))
    b.add_job("old", 1, 1, 0.0, [0], org_index=0, priority=0, submit_time=0.0)
    b.add_job("new", 1, 1, 0.0, [0], org_index=1, priority=0, submit_time=9_990.0)
    b.add_job("mid", 1, 1, 0.0, [0], org_index=2, priority=0, submit_time=9_980.0)
    snapshot = b.build()
    assert {p.job_key for p in run_cycle(snapshot, "las").placements} == {"new", "mid"}
    placed = {p.job_key for p in run_cycle(snapshot, "las-fair-hetero").placements}
    assert placed == {"new", "old"}
