"""EASY backfill and gang topology, by hand."""

from __future__ import annotations

from huangpu.scheduling import PendingReason, SnapshotBuilder, run_cycle


def busy_city() -> SnapshotBuilder:
    # Two 8-device nodes; n1 has 4 free, n2 none. "r1" (4 on n1) ends at t=2000,
    # "r2" (all of n2) never says when it ends.
    b = SnapshotBuilder(["a100"], ["sh"], now=1000.0)
    b.add_node(0, "n1", 0, "r", [4, 5, 6, 7], 80)
    b.add_node(0, "n2", 0, "r", [], 80)
    b.add_running("r1", 0, 0, 0.0, [("n1", 4)], expected_end=2000.0)
    b.add_running("r2", 0, 0, 0.0, [("n2", 8)])
    return b


def test_head_gets_a_reservation_and_short_jobs_fill_the_gap() -> None:
    b = busy_city()
    b.add_job("head", 8, 1, 0, [0], 0, 0, 0.0)  # needs all of n1: at t=2000
    b.add_job("unknown", 1, 1, 0, [0], 0, 0, 1.0)  # no estimate: counts as long
    b.add_job("short", 4, 1, 0, [0], 0, 0, 2.0, runtime_s=500.0)  # ends 1500 < 2000
    b.add_job("long", 2, 1, 0, [0], 0, 0, 3.0, runtime_s=5000.0)
    result = run_cycle(b.build(), "cost-aware")
    (res,) = result.reservations
    assert (res.job_key, res.start, res.node_keys) == ("head", 2000.0, ("n1",))
    placed = {p.job_key: p for p in result.placements}
    assert list(placed) == ["short"]
    assert placed["short"].node_keys == ("n1",) and placed["short"].backfilled
    reasons = {p.job_key: p for p in result.pending}
    assert reasons["long"].reason is PendingReason.BLOCKED_BY_JOBS_AHEAD
    assert reasons["head"].reason is PendingReason.WAITING_FOR_CAPACITY
    assert reasons["head"].args["reserved_in_s"] == 1000.0
    assert reasons["unknown"].reason is PendingReason.RESERVED_FOR_EARLIER_JOB
    assert "would delay job head" in reasons["unknown"].explain()


def test_without_backfill_order_is_strict_first_fit() -> None:
    b = busy_city()
    b.add_job("head", 8, 1, 0, [0], 0, 5, 0.0)
    b.add_job("unknown", 1, 1, 0, [0], 0, 0, 3.0)
    result = run_cycle(b.build(), "first-fit")
    assert [p.job_key for p in result.placements] == ["unknown"]


def test_gang_takes_the_tightest_domain_and_fullest_nodes() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=0.0)
    for i in range(4):  # domain big: 4 nodes free
        b.add_node(0, f"big{i}", 0, "big", list(range(8)), 80)
    for i in range(2):  # domain small: 2 nodes, one with 4 free, one with 8
        b.add_node(0, f"small{i}", 0, "small", list(range(8 - 4 * (i == 0))), 80)
    b.add_job("gang", 4, 2, 0, [0], 0, 0, 0.0)
    b.add_job("next", 8, 4, 0, [0], 0, 0, 1.0)  # still fits: big domain kept whole
    result = run_cycle(b.build(), "cost-aware")
    placed = {p.job_key: p for p in result.placements}
    assert placed["gang"].node_keys == ("small0", "small1")
    assert placed["next"].node_keys == ("big0", "big1", "big2", "big3")


def test_single_job_best_fit_keeps_whole_nodes_whole() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=0.0)
    b.add_node(0, "whole", 0, "r", list(range(8)), 80)
    b.add_node(0, "part", 0, "r", [5, 6, 7], 80)
    b.add_job("one", 1, 1, 0, [0], 0, 0, 0.0)
    b.add_job("eight", 8, 1, 0, [0], 0, 0, 1.0)
    placed = {p.job_key: p for p in run_cycle(b.build(), "cost-aware").placements}
    assert placed["one"].devices == (("part", 5),)
    assert placed["eight"].node_keys == ("whole",)


def test_gang_too_big_for_any_domain_is_structural() -> None:
    b = SnapshotBuilder(["a100"], ["sh"], now=0.0)
    for i in range(6):
        b.add_node(0, f"n{i}", 0, "d", list(range(8)), 80)
    b.add_job("gang", 8, 7, 0, [0], 0, 0, 0.0)
    (w,) = run_cycle(b.build(), "cost-aware").pending
    assert w.reason is PendingReason.GANG_DOES_NOT_FIT and w.args["largest_domain"] == 6
