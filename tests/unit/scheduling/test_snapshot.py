"""A snapshot is whole and valid, or it is not built at all."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from huangpu.scheduling import Snapshot, SnapshotBuilder, SnapshotError


def builder() -> SnapshotBuilder:
    b = SnapshotBuilder(["a100", "910b"], ["sh", "bj"], now=10.0)
    b.add_node(1, "b1", 1, "r1", [0, 1], 64)
    b.add_node(0, "a1", 0, "r1", [3, 1, 2], 80)
    b.add_job("j1", 1, 1, 0, [0], 0, 0, 1.0)
    return b


def test_build_sorts_nodes_by_pool_and_devices_ascending() -> None:
    s = builder().build()
    assert s.node_keys == ("a1", "b1")
    assert s.node_pool.tolist() == [0, 1]
    assert s.node_free.tolist() == [3, 2]
    assert s.node_free_devices == ((1, 2, 3), (0, 1))
    # Same domain key in two pools is two domains: a gang never spans pools.
    assert s.domains == ("r1", "r1")
    assert s.node_domain.tolist() == [0, 1]
    assert s.job_pool_mask.tolist() == [[True, True]]
    assert s.job_chip_mask.tolist() == [[True, False]]


def test_columns_are_read_only_copies() -> None:
    s = builder().build()
    with pytest.raises(ValueError):
        s.node_free[0] = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.now = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("add", "kind", "key", "words"),
    [
        (lambda b: b.add_node(0, "x", 0, "r", [1, 1], 80), "node", "x", "listed twice"),
        (lambda b: b.add_node(0, "a1", 0, "r", [0], 80), "node", "a1", "node key listed twice"),
        (lambda b: b.add_node(0, "x", 0, "r", [-1], 80), "node", "x", "negative device"),
        (lambda b: b.add_node(0, "x", 0, "r", [0], -1), "node", "x", "negative capacity"),
        (lambda b: b.add_node(5, "x", 0, "r", [0], 80), "node", "x", "pool 5 is out of range"),
        (lambda b: b.add_node(0, "x", 9, "r", [0], 80), "node", "x", "chip 9 is out of range"),
        (lambda b: b.add_job("j1", 1, 1, 0, [0], 0, 0, 0), "job", "j1", "job key listed twice"),
        (lambda b: b.add_job("j", 0, 1, 0, [0], 0, 0, 0), "job", "j", "accelerators"),
        (lambda b: b.add_job("j", 1, 0, 0, [0], 0, 0, 0), "job", "j", "nodes"),
        (lambda b: b.add_job("j", 1, 1, -2, [0], 0, 0, 0), "job", "j", "min memory"),
        (lambda b: b.add_job("j", 1, 1, 0, [7], 0, 0, 0), "job", "j", "chip index 7"),
        (lambda b: b.add_job("j", 1, 1, 0, [0], 0, 0, 0, [3]), "job", "j", "pool index 3"),
    ],
)
def test_bad_rows_raise_naming_the_object(add, kind, key, words) -> None:  # type: ignore[no-untyped-def]
    b = builder()
    add(b)
    with pytest.raises(SnapshotError, match=words) as caught:
        b.build()
    assert (caught.value.kind, caught.value.object_key) == (kind, key)
    assert caught.value.code == "invalid_snapshot"


def test_mismatched_lengths_name_the_column() -> None:
    s = builder().build()
    with pytest.raises(SnapshotError) as caught:
        dataclasses.replace(s, job_accel=np.array([1, 2]))
    assert (caught.value.kind, caught.value.object_key) == ("snapshot", "job_accel")
    with pytest.raises(SnapshotError, match="node_free=3 but 2 devices"):
        dataclasses.replace(s, node_free_devices=((1, 2), (0, 1)))
    with pytest.raises(SnapshotError, match="grouped by pool"):
        dataclasses.replace(s, node_pool=np.array([1, 0]), domain_pool=np.array([1, 0]))


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(SnapshotError, match="ascending"):
        Snapshot(
            chips=("a100",),
            pools=("sh",),
            domains=("r1",),
            domain_pool=np.array([0]),
            node_keys=("a1",),
            node_pool=np.array([0]),
            node_chip=np.array([0]),
            node_domain=np.array([0]),
            node_free=np.array([2]),
            node_mem_gib=np.array([80.0]),
            node_free_devices=((3, 1),),
            job_keys=(),
            job_accel=np.zeros(0, dtype=np.int64),
            job_nodes=np.zeros(0, dtype=np.int64),
            job_min_mem=np.zeros(0),
            job_chip_mask=np.zeros((0, 1), dtype=np.bool_),
            job_pool_mask=np.zeros((0, 1), dtype=np.bool_),
            job_org=np.zeros(0, dtype=np.int64),
            job_priority=np.zeros(0, dtype=np.int64),
            job_submit=np.zeros(0),
        )
