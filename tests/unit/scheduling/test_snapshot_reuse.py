"""Snapshots reuse what earlier cycles checked (node layout, free devices, tables) without ever
letting a changed input through: every bad input still raises the error it always did."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from huangpu.scheduling import Snapshot, SnapshotError
from huangpu.scheduling.tables import Held, Market, Quotas, Running


def columns(n_jobs: int = 2) -> dict[str, Any]:
    """Two pools of two nodes (one domain each), as the simulator passes them every round."""
    return {
        "chips": ("a100", "910b"),
        "pools": ("sh", "bj"),
        "domains": ("d0", "d1"),
        "domain_pool": np.array([0, 1]),
        "node_keys": ("n0", "n1", "n2", "n3"),
        "node_pool": np.array([0, 0, 1, 1]),
        "node_chip": np.array([0, 0, 1, 1]),
        "node_domain": np.array([0, 0, 1, 1]),
        "node_free": np.array([2, 1, 0, 2]),
        "node_mem_gib": np.array([80.0, 80.0, 64.0, 64.0]),
        "node_free_devices": ((0, 1), (3,), (), (2, 5)),
        "job_keys": tuple(f"j{i}" for i in range(n_jobs)),
        "job_accel": np.ones(n_jobs, dtype=np.int64),
        "job_nodes": np.ones(n_jobs, dtype=np.int64),
        "job_min_mem": np.zeros(n_jobs),
        "job_chip_mask": np.ones((n_jobs, 2), dtype=np.bool_),
        "job_pool_mask": np.ones((n_jobs, 2), dtype=np.bool_),
        "job_org": np.zeros(n_jobs, dtype=np.int64),
        "job_priority": np.zeros(n_jobs, dtype=np.int64),
        "job_submit": np.arange(n_jobs, dtype=np.float64),
        "now": 10.0,
    }


def error(**changes: Any) -> tuple[str, str, str]:
    with pytest.raises(SnapshotError) as caught:
        Snapshot(**{**columns(), **changes})
    return caught.value.kind, caught.value.object_key, str(caught.value)


def test_layout_changed_in_place_is_checked_again() -> None:
    kw = columns()
    Snapshot(**kw)
    Snapshot(**kw)  # the same layout again: reused
    kw["node_pool"][0] = 1  # the caller's own array, changed in place
    with pytest.raises(SnapshotError, match="grouped by pool"):
        Snapshot(**kw)
    kw = columns()
    kw["node_mem_gib"][2] = np.nan
    with pytest.raises(SnapshotError, match="negative capacity: node_mem_gib=nan") as caught:
        Snapshot(**kw)
    assert caught.value.object_key == "n2"
    kw = columns()
    kw["domain_pool"][0] = 1
    with pytest.raises(SnapshotError, match="domain belongs to another pool"):
        Snapshot(**kw)


def test_reused_layout_columns_are_read_only_and_private() -> None:
    kw = columns()
    first, second = Snapshot(**kw), Snapshot(**kw)
    assert second.node_pool.tolist() == [0, 0, 1, 1]
    kw["node_mem_gib"][0] = 1.0  # after the build: the snapshots keep what they were given
    assert first.node_mem_gib[0] == second.node_mem_gib[0] == 80.0
    for s in (first, second):
        for name in ("node_pool", "node_chip", "node_domain", "node_mem_gib", "domain_pool"):
            with pytest.raises(ValueError):
                getattr(s, name)[0] = 0


def test_same_free_device_table_with_other_counts() -> None:
    kw = columns()
    devices = kw["node_free_devices"]
    Snapshot(**kw)
    kw["node_free"] = np.array([2, 1, 1, 2])
    assert kw["node_free_devices"] is devices
    with pytest.raises(SnapshotError, match="node_free=1 but 0 devices listed") as caught:
        Snapshot(**kw)
    assert caught.value.object_key == "n2"
    kw["node_free"] = np.array([2, -1, 0, 2])
    with pytest.raises(SnapshotError, match="negative capacity: node_free=-1"):
        Snapshot(**kw)


@pytest.mark.parametrize(
    ("devices", "words"),
    [
        (((0, 1), (3,), (), (5, 2)), "ascending"),
        (((0, 1), (3,), (), (2, 2)), "device index 2 listed twice"),
        (((0, 1), (-3,), (), (2, 5)), r"negative device index in \[-3\]"),
        (((0, 1), [3, 3], (), (2, 5)), "device index 3 listed twice"),  # a list row
    ],
)
def test_free_device_rows_are_checked_row_by_row(devices: Any, words: str) -> None:
    Snapshot(**columns())
    with pytest.raises(SnapshotError, match=words):
        Snapshot(**{**columns(), "node_free_devices": devices})


def test_free_devices_need_not_be_plain_int_tuples() -> None:
    rows = ((np.int64(0), np.int64(1)), [3], (), (2.0, 5.0))
    s = Snapshot(**{**columns(), "node_free_devices": rows})
    assert s.node_free.tolist() == [2, 1, 0, 2]


def test_job_checks_report_the_first_bad_row_of_the_first_failing_check() -> None:
    nan, inf = np.nan, np.inf
    assert error(job_min_mem=np.array([0.0, nan]))[1:] == ("j1", "job 'j1': min memory must be ≥ 0")
    assert error(job_submit=np.array([inf, 0.0]))[1] == "j0"
    assert error(job_accel=np.array([1, 0]), job_submit=np.array([nan, 0.0]))[1] == "j1"
    assert error(job_org=np.array([0, -1]))[2].endswith("org index out of range")
    assert error(job_class=np.array([0, 7]))[2].endswith("workload class unknown")
    assert error(job_work=np.array([nan, -1.0]))[1] == "j1"
    assert error(job_runtime=np.array([nan, 0.0]))[1] == "j1"
    assert error(job_deadline=np.array([-inf, nan]))[1] == "j1"
    assert error(job_residency=np.array([-1, -2]))[1] == "j1"
    s = Snapshot(
        **columns(),
        job_work=np.array([nan, 1.0]),
        job_runtime=np.array([nan, 5.0]),
        job_deadline=np.array([-inf, inf]),
    )
    assert np.isnan(s.job_work[0]) and s.job_deadline.tolist() == [-inf, inf]


def test_defaults_are_filled_and_read_only() -> None:
    s = Snapshot(**columns(3))
    assert s.job_deadline.tolist() == [np.inf] * 3
    assert np.isnan(s.job_runtime).all() and s.job_residency.tolist() == [-1] * 3
    assert s.pool_region.tolist() == [0, 0]
    assert s.quotas.nominal.shape == (1, 2) and np.isinf(s.quotas.nominal).all()
    assert s.quotas.chip_family.tolist() == [0, 1] and s.quotas.families == s.chips
    assert s.quotas.weight.tolist() == [1.0] and s.quotas.block_reason == ("",)
    assert s.market.subsidy_bp.shape == (1, 2) and s.running.n == 0 and not s.held.active
    for array in (s.job_deadline, s.quotas.nominal, s.market.subsidy_bp, s.running.org):
        assert not array.flags.writeable


def test_a_resolved_market_is_checked_against_the_new_sizes() -> None:
    market = Market(throughput=np.ones((1, 2)), subsidy_bp=np.array([[100, 0]]))
    s = Snapshot(**columns(), market=market)
    again = dataclasses.replace(s, now=11.0)  # resolved tables passed back in
    assert again.market.subsidy_bp.tolist() == [[100, 0]]
    with pytest.raises(SnapshotError, match=r"has shape \(1, 2\), expected \(2, 2\)"):
        dataclasses.replace(s, orgs=("o0", "o1"))
    with pytest.raises(SnapshotError, match="throughput"):
        Snapshot(**columns(), market=Market(throughput=np.full((1, 2), np.inf)))
    with pytest.raises(SnapshotError, match=r"0\.\.10,000 basis points"):
        Snapshot(**columns(), market=dataclasses.replace(s.market, subsidy_bp=np.array([[1, -1]])))


def test_quotas_usage_alone_is_still_checked() -> None:
    with pytest.raises(SnapshotError, match="must be ≥ 0") as caught:
        Snapshot(**columns(), quotas=Quotas(decayed_usage=np.array([np.nan])))
    assert caught.value.object_key == "decayed_usage"
    with pytest.raises(SnapshotError, match=r"has shape \(2,\), expected \(1,\)"):
        Snapshot(**columns(), quotas=Quotas(decayed_usage=np.zeros(2)))
    with pytest.raises(SnapshotError, match="weights must be finite"):
        Snapshot(**columns(), quotas=Quotas(weight=np.array([0.0]), decayed_usage=np.ones(1)))
    s = Snapshot(**columns(), quotas=Quotas(decayed_usage=np.array([3.0])))
    assert s.quotas.decayed_usage.tolist() == [3.0] and not s.quotas.enforced


def test_running_allocations_report_the_first_bad_row() -> None:
    def running(node: list[int], count: list[int]) -> Running:
        return Running(
            keys=("r0", "r1"),
            org=np.zeros(2, dtype=np.int64),
            priority=np.zeros(2, dtype=np.int64),
            start=np.zeros(2),
            end=np.full(2, np.inf),
            alloc_run=np.array([0, 1, 1]),
            alloc_node=np.array(node),
            alloc_count=np.array(count),
        )

    assert error(running=running([0, 1, 9], [1, 0, 1]))[1:] == (
        "r1",
        "running job 'r1': holds 0 devices on a node",
    )
    assert error(running=running([0, 9, 1], [1, 0, 1]))[2].endswith("node index 9 out of range")
    s = Snapshot(**columns(), running=running([0, 1, 3], [1, 1, 2]))
    assert s.running.preemptible.tolist() == [True, True]
    assert error(held=Held("j0", 5.0, np.array([0, 2]), np.array([1, 1])))[2].endswith(
        "reserved nodes must share pool and chip"
    )
