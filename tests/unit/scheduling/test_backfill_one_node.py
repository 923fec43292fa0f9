"""EASY reservation for a one-node head job, against a brute-force reading of its definition:
the earliest expected end of a running job after which some node of the cell has room, then
the best fit at that time, holding back what the releases do not cover."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from huangpu.scheduling import SnapshotBuilder, run_cycle

node_st = st.tuples(
    st.sampled_from([4, 8]),  # devices
    st.sampled_from([40.0, 80.0]),  # memory
    st.lists(  # running jobs on it: (devices held, expected end or None)
        st.tuples(st.integers(1, 4), st.one_of(st.none(), st.sampled_from([50.0, 90.0, 300.0]))),
        max_size=3,
    ),
)


def _expected(
    nodes: list[tuple[int, float, list[tuple[int, float | None]]]], need: int, mem: float
):
    free = [d - sum(c for c, _ in runs) for d, _, runs in nodes]
    ends = sorted({e for _, _, runs in nodes for _, e in runs if e is not None})
    for t in ends:
        back = [sum(c for c, e in runs if e is not None and e <= t) for _, _, runs in nodes]
        fits = [k for k, (_, m, _) in enumerate(nodes) if m >= mem and free[k] + back[k] >= need]
        if fits:
            k = min(fits, key=lambda k: (free[k] + back[k], k))
            return t, f"n{k}", max(need - back[k], 0)
    return None


@settings(max_examples=150, deadline=None)
@given(nodes=st.lists(node_st, min_size=1, max_size=5), need=st.integers(1, 8), big=st.booleans())
def test_one_node_reservation_is_the_earliest_best_fit(
    nodes: list[tuple[int, float, list[tuple[int, float | None]]]], need: int, big: bool
) -> None:
    # Keep each node's running jobs within its devices.
    nodes = [(d, m, [r for k, r in enumerate(runs) if sum(c for c, _ in runs[: k + 1]) <= d])
             for d, m, runs in nodes]  # fmt: skip
    mem = 80.0 if big else 0.0
    b = SnapshotBuilder(["a100"], ["sh"], now=0.0)
    for k, (devices, memory, runs) in enumerate(nodes):
        held = sum(c for c, _ in runs)
        b.add_node(0, f"n{k}", 0, "d", list(range(held, devices)), memory)
        for r, (count, end) in enumerate(runs):
            b.add_running(
                f"r{k}-{r}", 0, 0, 0.0, [(f"n{k}", count)],
                expected_end=math.inf if end is None else end,
            )  # fmt: skip
    fits_now = any(d - sum(c for c, _ in runs) >= need and m >= mem for d, m, runs in nodes)
    b.add_job("head", need, 1, mem, [0], 0, 0, 0.0)
    result = run_cycle(b.build(), "cost-aware")
    if fits_now:
        assert [p.job_key for p in result.placements] == ["head"]
        return
    want = _expected(nodes, need, mem)
    if want is None:
        assert result.reservations == ()
        return
    (res,) = result.reservations
    assert (res.start, res.node_keys, res.hold) == (want[0], (want[1],), (want[2],))
