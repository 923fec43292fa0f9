"""Incremental cycles: only new arrivals, against the reservation the last full cycle made."""

from __future__ import annotations

import pytest

from huangpu.scheduling import PendingReason, SnapshotBuilder, SnapshotError, run_cycle

NOW = 1000.0


def city(with_queue: bool, arrivals: bool, carry: tuple[str, float, list[tuple[str, int]]] | None):
    b = SnapshotBuilder(["a100"], ["p0"], NOW)
    b.add_node(0, "n0", 0, "sw", [4, 5, 6, 7], 80.0)  # 4 held by r0 until NOW + 100
    b.add_node(0, "n1", 0, "sw", [], 80.0)  # all 8 held by r1, no end known
    b.add_running("r0", 0, 0, NOW - 50, [("n0", 4)], NOW + 100)
    b.add_running("r1", 0, 0, NOW - 50, [("n1", 8)])
    if with_queue:
        b.add_job("head", 8, 1, 0, [0], 0, 0, 1.0)
    if arrivals:
        b.add_job("long", 1, 1, 0, [0], 0, 0, 2.0)  # no estimate: counts as long
        b.add_job("short", 1, 1, 0, [0], 0, 0, 3.0, runtime_s=50.0)
    if carry is not None:
        b.set_reservation(*carry)
    return b.build()


def test_incremental_cycle_keeps_the_reservation_and_decides_as_the_full_cycle() -> None:
    first = run_cycle(city(True, False, None), "cost-aware")
    (res,) = first.reservations
    assert (res.job_key, res.start, res.node_keys, res.hold) == ("head", NOW + 100, ("n0",), (4,))
    carry = (res.job_key, res.start, list(zip(res.node_keys, res.hold, strict=True)))
    inc = run_cycle(city(False, True, carry), "cost-aware")
    full = run_cycle(city(True, True, None), "cost-aware")
    for result in (inc, full):
        assert [p.job_key for p in result.placements] == ["short"]
        reasons = {p.job_key: p.reason for p in result.pending}
        assert reasons["long"] is PendingReason.RESERVED_FOR_EARLIER_JOB
    assert inc.reservations[0].job_key == "head"


def test_a_carried_reservation_must_name_known_nodes_of_one_cell() -> None:
    with pytest.raises(SnapshotError, match="unknown node"):
        city(False, True, ("head", NOW + 100, [("n9", 4)]))
    with pytest.raises(SnapshotError, match="hold"):
        city(False, True, ("head", NOW + 100, [("n0", -1)]))
