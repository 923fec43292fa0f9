"""First-fit on small clusters whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from huangpu.scheduling import (
    CycleResult,
    Pending,
    PendingReason,
    Placement,
    SnapshotBuilder,
    UnknownPolicy,
    get_policy,
    never_fits,
    policy_names,
    run_cycle,
)

CHIPS = ["a100", "910b", "4090"]  # 80, 64 and 24 GiB
POOLS = ["sh-a100", "bj-ascend", "hz-4090"]
A100, ASCEND, RTX = 0, 1, 2


def city() -> SnapshotBuilder:
    """sh-a100: two 8-GPU nodes in rack r1, one in r2. bj-ascend: one 8-NPU node. hz: one 4090."""
    b = SnapshotBuilder(CHIPS, POOLS, now=1000.0)
    b.add_node(0, "a1", A100, "r1", list(range(8)), 80)
    b.add_node(0, "a2", A100, "r1", list(range(8)), 80)
    b.add_node(0, "a3", A100, "r2", list(range(8)), 80)
    b.add_node(1, "b1", ASCEND, "r1", list(range(8)), 64)
    b.add_node(2, "c1", RTX, "r1", [0], 24)
    return b


def job(
    b: SnapshotBuilder,
    key: str,
    accel: int = 1,
    nodes: int = 1,
    mem: float = 0,
    chips: tuple[int, ...] = (A100, ASCEND, RTX),
    priority: int = 0,
    submit: float = 0.0,
    pools: list[int] | None = None,
) -> None:
    b.add_job(key, accel, nodes, mem, list(chips), 0, priority, submit, pools)


def placed(result: CycleResult) -> dict[str, Placement]:
    return {p.job_key: p for p in result.placements}


def reasons(result: CycleResult) -> dict[str, Pending]:
    return {p.job_key: p for p in result.pending}


def test_single_device_goes_to_first_pool_first_node_lowest_device() -> None:
    b = city()
    job(b, "j")
    p = placed(run_cycle(b.build()))["j"]
    assert (p.pool_index, p.node_keys, p.devices) == (0, ("a1",), (("a1", 0),))


def test_devices_taken_lowest_first_and_never_reused() -> None:
    b = SnapshotBuilder(CHIPS, POOLS, now=0)
    b.add_node(0, "a1", A100, "r1", [7, 2, 5], 80)  # the builder sorts: 2, 5, 7
    for i in range(3):
        job(b, f"j{i}", submit=float(i))
    got = placed(run_cycle(b.build()))
    assert [got[f"j{i}"].devices for i in range(3)] == [(("a1", 2),), (("a1", 5),), (("a1", 7),)]


def test_eight_device_job_takes_a_whole_node() -> None:
    b = city()
    job(b, "big", accel=8, chips=(ASCEND,))
    p = placed(run_cycle(b.build()))["big"]
    assert p.node_keys == ("b1",)
    assert p.devices == tuple(("b1", d) for d in range(8))


def test_gang_within_one_domain() -> None:
    b = city()
    job(b, "gang", accel=8, nodes=2, chips=(A100,))
    p = placed(run_cycle(b.build()))["gang"]
    assert p.node_keys == ("a1", "a2")  # rack r1; a3 alone in r2 cannot join
    assert len(p.devices) == 16


def test_gang_refused_across_domains() -> None:
    b = city()
    job(b, "gang", accel=8, nodes=3, chips=(A100,))
    result = run_cycle(b.build())
    assert result.placements == ()
    pending = reasons(result)["gang"]
    assert pending.reason is PendingReason.GANG_DOES_NOT_FIT
    assert pending.args["largest_domain"] == 2
    assert "3 nodes × 8 accelerators in one interconnect domain" in pending.explain()


def test_gang_all_or_nothing_when_one_node_is_busy() -> None:
    b = SnapshotBuilder(CHIPS, POOLS, now=0)
    b.add_node(0, "a1", A100, "r1", list(range(8)), 80)
    b.add_node(0, "a2", A100, "r1", list(range(4)), 80)
    job(b, "gang", accel=8, nodes=2, chips=(A100,))
    job(b, "small", accel=1, submit=1.0)
    result = run_cycle(b.build())
    pending = reasons(result)["gang"]
    assert pending.reason is PendingReason.WAITING_FOR_CAPACITY
    assert pending.args["largest_free"] == 1
    # The gang took nothing, so the small job gets a1's first device.
    assert placed(result)["small"].devices == (("a1", 0),)
    assert result.stats.free_devices_after == 11


def test_memory_filter_skips_small_chips() -> None:
    b = city()
    job(b, "j", mem=70, chips=(ASCEND, A100))
    assert placed(run_cycle(b.build()))["j"].node_keys == ("a1",)


def test_insufficient_memory_names_the_largest() -> None:
    b = city()
    job(b, "j", mem=96, chips=(ASCEND,))
    pending = reasons(run_cycle(b.build()))["j"]
    assert pending.reason is PendingReason.INSUFFICIENT_MEMORY
    assert pending.args == {"min_memory_gib": 96.0, "largest_memory_gib": 64.0}
    assert "64 GiB" in pending.explain()


def test_priority_then_submit_time_then_key() -> None:
    b = SnapshotBuilder(CHIPS, POOLS, now=0)
    b.add_node(0, "a1", A100, "r1", [0, 1], 80)
    job(b, "old-low", submit=1.0, priority=0)
    job(b, "new-high", submit=9.0, priority=5)
    job(b, "b-tie", submit=2.0)
    job(b, "a-tie", submit=2.0)
    result = run_cycle(b.build())
    assert [p.job_key for p in result.placements] == ["new-high", "old-low"]
    assert [p.job_key for p in result.pending] == ["a-tie", "b-tie"]
    assert {p.reason for p in result.pending} == {PendingReason.BLOCKED_BY_JOBS_AHEAD}


def test_pool_mask_routes_to_allowed_pool() -> None:
    b = city()
    job(b, "j", chips=(A100, ASCEND), pools=[1])
    assert placed(run_cycle(b.build()))["j"].pool_index == 1


def test_reasons_for_chip_pool_and_capacity() -> None:
    b = city()
    job(b, "no-chip", chips=())
    job(b, "wrong-pool", chips=(RTX,), pools=[0])
    job(b, "too-big", accel=9, chips=(A100,))
    result = run_cycle(b.build())
    got = reasons(result)
    assert got["no-chip"].reason is PendingReason.NO_MATCHING_CHIP
    assert got["wrong-pool"].reason is PendingReason.NO_POOL_ALLOWED
    assert got["wrong-pool"].args["pools"] == "hz-4090"
    too_big = got["too-big"]
    assert too_big.reason is PendingReason.WAITING_FOR_CAPACITY
    assert too_big.explain() == (
        "waiting for capacity: 9 × accepted chips, largest free block is 8 on pool sh-a100"
    )
    assert result.stats.by_reason == {
        "NO_MATCHING_CHIP": 1,
        "NO_POOL_ALLOWED": 1,
        "WAITING_FOR_CAPACITY": 1,
    }
    assert result.stats.oldest_pending_wait_s == 1000.0


def test_reasons_are_ordered_by_closeness_to_running() -> None:
    order = list(PendingReason)
    assert order == sorted(order)
    assert order[0] is PendingReason.NO_MATCHING_CHIP
    assert order[-1] is PendingReason.BLOCKED_BY_JOBS_AHEAD
    assert PendingReason.GANG_DOES_NOT_FIT.structural
    assert not PendingReason.WAITING_FOR_CAPACITY.structural


def test_never_fits_on_capacity_snapshot() -> None:
    def capacity(**kw: object) -> Pending | None:
        b = city()
        job(b, "j", **kw)  # type: ignore[arg-type]
        return never_fits(b.build())

    assert capacity(accel=8, nodes=2, chips=(A100,)) is None
    too_many = capacity(accel=16, chips=(A100,))
    assert too_many is not None
    assert too_many.reason is PendingReason.TOO_MANY_ACCELERATORS_PER_NODE
    assert too_many.args["largest_node"] == 8
    gang = capacity(accel=8, nodes=3, chips=(A100,))
    assert gang is not None and gang.reason is PendingReason.GANG_DOES_NOT_FIT
    memory = capacity(mem=80.5)
    assert memory is not None and memory.reason is PendingReason.INSUFFICIENT_MEMORY


def test_empty_snapshot_and_empty_queue() -> None:
    result = run_cycle(SnapshotBuilder([], [], now=0).build())
    assert (result.placements, result.pending, result.stats.jobs) == ((), (), 0)
    b = SnapshotBuilder(CHIPS, POOLS, now=0)
    job(b, "j")
    assert reasons(run_cycle(b.build()))["j"].reason is PendingReason.NO_MATCHING_CHIP


def test_policy_registry() -> None:
    assert "first-fit" in policy_names()
    assert get_policy("first-fit").name == "first-fit"
    with pytest.raises(UnknownPolicy, match=r"Did you mean 'first-fit'.*Known: .*first-fit"):
        get_policy("first_fit")
