"""Invariants of a cycle on random clusters and queues."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huangpu.scheduling import (
    CycleResult,
    PendingReason,
    Snapshot,
    SnapshotBuilder,
    SnapshotError,
    feasible_nodes,
    run_cycle,
)
from huangpu.scheduling.policies.first_fit import first_fit_nodes

CHIPS = ["a100", "910b", "4090"]
POOLS = ["sh", "bj", "hz"]


@dataclass(frozen=True)
class NodeRow:
    pool: int
    chip: int
    domain: str
    devices: tuple[int, ...]
    memory: float


@dataclass(frozen=True)
class JobRow:
    accel: int
    nodes: int
    memory: float
    chips: tuple[int, ...]
    priority: int
    submit: float
    pools: tuple[int, ...] | None


node_rows = st.builds(
    NodeRow,
    pool=st.integers(0, 2),
    chip=st.integers(0, 2),
    domain=st.sampled_from(["d0", "d1", "d2"]),
    devices=st.sets(st.integers(0, 7)).map(lambda s: tuple(sorted(s))),
    memory=st.sampled_from([24.0, 64.0, 80.0]),
)
job_rows = st.builds(
    JobRow,
    accel=st.integers(1, 8),
    nodes=st.integers(1, 3),
    memory=st.sampled_from([0.0, 32.0, 70.0, 90.0]),
    chips=st.sets(st.integers(0, 2), min_size=1).map(lambda s: tuple(sorted(s))),
    priority=st.integers(-1, 1),
    submit=st.sampled_from([0.0, 1.0, 2.0]),
    pools=st.none() | st.sets(st.integers(0, 2)).map(lambda s: tuple(sorted(s))),
)


def build(nodes: list[NodeRow], jobs: list[JobRow]) -> Snapshot:
    b = SnapshotBuilder(CHIPS, POOLS, now=10.0)
    for i, n in enumerate(nodes):
        b.add_node(n.pool, f"n{i}", n.chip, n.domain, list(n.devices), n.memory)
    for i, j in enumerate(jobs):
        b.add_job(f"j{i}", j.accel, j.nodes, j.memory, j.chips, 0, j.priority, j.submit, j.pools)
    return b.build()


clusters = st.lists(node_rows, max_size=14)
queues = st.lists(job_rows, max_size=16)


def free_after(s: Snapshot, result: CycleResult) -> np.ndarray:
    index = {key: i for i, key in enumerate(s.node_keys)}
    free = s.node_free.copy()
    for node_key, _ in (d for p in result.placements for d in p.devices):
        free[index[node_key]] -= 1
    return free


@settings(max_examples=150, deadline=None)
@given(clusters, queues)
def test_placements_are_sound(nodes: list[NodeRow], jobs: list[JobRow]) -> None:
    s = build(nodes, jobs)
    result = run_cycle(s)
    index = {key: i for i, key in enumerate(s.node_keys)}
    given_out = [d for p in result.placements for d in p.devices]
    assert len(given_out) == len(set(given_out)), "a device was given twice"
    for node_key, device in given_out:
        assert device in s.node_free_devices[index[node_key]]
    for p in result.placements:
        j = s.job_keys.index(p.job_key)
        rows = [index[k] for k in p.node_keys]
        assert len(rows) == len(set(rows)) == s.job_nodes[j]  # all of the gang, or none
        assert Counter(k for k, _ in p.devices) == dict.fromkeys(p.node_keys, int(s.job_accel[j]))
        assert {int(s.node_pool[r]) for r in rows} == {p.pool_index}
        assert len({int(s.node_domain[r]) for r in rows}) == 1
        assert s.job_pool_mask[j, p.pool_index]
        for r in rows:
            assert s.job_chip_mask[j, s.node_chip[r]]
            assert s.node_mem_gib[r] >= s.job_min_mem[j]
    keys = [p.job_key for p in result.placements] + [p.job_key for p in result.pending]
    assert sorted(keys) == sorted(s.job_keys)
    assert result.stats.free_devices_after == result.stats.free_devices_before - len(given_out)


@settings(max_examples=100, deadline=None)
@given(clusters, queues)
def test_no_pending_job_fits_what_is_left(nodes: list[NodeRow], jobs: list[JobRow]) -> None:
    s = build(nodes, jobs)
    result = run_cycle(s)
    left = free_after(s, result)
    for p in result.pending:
        j = s.job_keys.index(p.job_key)
        candidates = feasible_nodes(s, np.array([j]))[0] & (left >= s.job_accel[j])
        assert first_fit_nodes(s, candidates, int(s.job_nodes[j])) is None
        assert p.explain()
        if p.reason < PendingReason.WAITING_FOR_CAPACITY:
            # A structural reason must hold even with every free device of the snapshot.
            start = feasible_nodes(s, np.array([j]))[0] & (s.node_free >= s.job_accel[j])
            assert first_fit_nodes(s, start, int(s.job_nodes[j])) is None


@settings(max_examples=100, deadline=None)
@given(clusters, queues)
def test_same_snapshot_same_result(nodes: list[NodeRow], jobs: list[JobRow]) -> None:
    first = run_cycle(build(nodes, jobs))
    assert run_cycle(build(nodes, jobs)) == first
    # Jobs arriving from the store in another order change nothing.
    shuffled = SnapshotBuilder(CHIPS, POOLS, now=10.0)
    for i, n in enumerate(nodes):
        shuffled.add_node(n.pool, f"n{i}", n.chip, n.domain, list(n.devices), n.memory)
    for i in reversed(range(len(jobs))):
        j = jobs[i]
        shuffled.add_job(
            f"j{i}", j.accel, j.nodes, j.memory, j.chips, 0, j.priority, j.submit, j.pools
        )
    assert run_cycle(shuffled.build()) == first


@settings(max_examples=100, deadline=None)
@given(clusters.filter(lambda ns: any(n.devices for n in ns)), st.data())
def test_duplicated_device_is_refused(nodes: list[NodeRow], data: st.DataObject) -> None:
    victim = data.draw(st.sampled_from([i for i, n in enumerate(nodes) if n.devices]))
    row = nodes[victim]
    nodes[victim] = NodeRow(row.pool, row.chip, row.domain, (*row.devices, row.devices[0]), 80.0)
    with pytest.raises(SnapshotError) as caught:
        build(nodes, [])
    assert (caught.value.kind, caught.value.object_key) == ("node", f"n{victim}")
