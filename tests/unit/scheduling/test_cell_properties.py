"""Invariants of the cell-engine policies on random cities, queues, quotas and running jobs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from huangpu.scheduling import CycleResult, Snapshot, SnapshotBuilder, run_cycle
from huangpu.scheduling.tables import Market, Quotas

CHIPS = ["a100", "910b", "4090"]
POOLS = ["sh", "bj", "sg"]
POOL_REGION = [0, 1, 2]
POLICIES = ["cost-aware", "fair-share", "finish-time-fairness", "max-min-fairness"]
INF = float("inf")


@dataclass(frozen=True)
class Node:
    pool: int
    chip: int
    domain: str
    free: int
    held: int  # devices held by one running job
    end: float
    memory: float


@dataclass(frozen=True)
class Job:
    accel: int
    nodes: int
    memory: float
    chips: tuple[int, ...]
    org: int
    priority: int
    runtime: float
    residency: int
    max_price: int


@dataclass(frozen=True)
class World:
    nodes: list[Node]
    jobs: list[Job]
    nominal: list[list[float]]
    borrow: list[list[float]]
    cohort: list[int]
    blocked: list[bool]
    policy: str


nodes_st = st.builds(
    Node,
    pool=st.integers(0, 2),
    chip=st.integers(0, 2),
    domain=st.sampled_from(["d0", "d1"]),
    free=st.integers(0, 8),
    held=st.integers(0, 8),
    end=st.sampled_from([1100.0, 1500.0, 3000.0, INF]),
    memory=st.sampled_from([24.0, 80.0]),
)
jobs_st = st.builds(
    Job,
    accel=st.integers(1, 8),
    nodes=st.integers(1, 3),
    memory=st.sampled_from([0.0, 40.0]),
    chips=st.sets(st.integers(0, 2), min_size=1).map(lambda s: tuple(sorted(s))),
    org=st.integers(0, 2),
    priority=st.integers(0, 2),
    runtime=st.sampled_from([100.0, 400.0, 2500.0, float("nan")]),
    residency=st.sampled_from([-1, -1, -1, 0, 2]),
    max_price=st.sampled_from([0, 0, 0, 1000]),
)
quota_cell = st.sampled_from([0.0, 4.0, 16.0, INF, INF])
grid = st.lists(st.lists(quota_cell, min_size=3, max_size=3), min_size=3, max_size=3)
worlds = st.builds(
    World,
    nodes=st.lists(nodes_st, max_size=10),
    jobs=st.lists(jobs_st, max_size=12),
    nominal=grid,
    borrow=grid,
    cohort=st.lists(st.sampled_from([-1, 0]), min_size=3, max_size=3),
    blocked=st.lists(st.sampled_from([False, False, False, True]), min_size=3, max_size=3),
    policy=st.sampled_from(POLICIES),
)


def build(w: World) -> Snapshot:
    b = SnapshotBuilder(CHIPS, POOLS, now=1000.0)
    b.set_regions(["shanghai", "beijing", "singapore"], POOL_REGION)
    b.set_market(Market(price_fen=np.array([[900, 800, 300], [1200, 700, 200], [600, 900, 100]])))
    b.set_quotas(
        Quotas(
            nominal=np.array(w.nominal),
            borrow_limit=np.array(w.borrow),
            cohort=np.array(w.cohort),
            blocked=np.array(w.blocked),
            block_reason=("budget", "budget", "budget"),
        )
    )
    for i, n in enumerate(w.nodes):
        held = min(n.held, 8 - n.free)
        b.add_node(n.pool, f"n{i}", n.chip, n.domain, list(range(held, held + n.free)), n.memory)
        if held:
            b.add_running(f"r{i}", i % 3, i % 2, 0.0, [(f"n{i}", held)], n.end)
    for i, j in enumerate(w.jobs):
        b.add_job(
            f"j{i}", j.accel, j.nodes, j.memory, j.chips, j.org, j.priority, float(i), None,
            runtime_s=j.runtime, residency=j.residency, max_price_fen=j.max_price,
        )  # fmt: skip
    return b.build()


def check(s: Snapshot, result: CycleResult) -> None:
    index = {key: i for i, key in enumerate(s.node_keys)}
    jobs = {key: j for j, key in enumerate(s.job_keys)}
    given_out = [d for p in result.placements for d in p.devices]
    assert len(given_out) == len(set(given_out)), "a device was given twice"
    placed_ncu = np.zeros((s.n_orgs, s.quotas.n_families))
    for p in result.placements:
        j = jobs[p.job_key]
        rows = [index[k] for k in p.node_keys]
        # gang: all of it, on distinct nodes, in one pool, one domain and one chip model
        assert len(set(rows)) == len(rows) == s.job_nodes[j]
        assert Counter(k for k, _ in p.devices) == dict.fromkeys(p.node_keys, int(s.job_accel[j]))
        assert {int(s.node_pool[r]) for r in rows} == {p.pool_index}
        assert len({int(s.node_domain[r]) for r in rows}) == 1
        assert {int(s.node_chip[r]) for r in rows} == {p.chip_index}
        for node_key, device in p.devices:
            assert device in s.node_free_devices[index[node_key]]
        assert s.job_chip_mask[j, p.chip_index] and s.job_pool_mask[j, p.pool_index]
        assert all(s.node_mem_gib[r] >= s.job_min_mem[j] for r in rows)
        if s.job_residency[j] >= 0:  # residency: never outside its region
            assert s.pool_region[p.pool_index] == s.job_residency[j]
        assert not s.quotas.blocked[s.job_org[j]], "a budget-stopped org was admitted"
        if s.job_max_price[j]:
            assert s.market.price_fen[p.pool_index, p.chip_index] <= s.job_max_price[j]
        family = int(s.quotas.chip_family[p.chip_index])
        placed_ncu[s.job_org[j], family] += len(p.devices) * s.market.chip_ncu[p.chip_index]
    # quotas: what an org holds after the cycle stays within nominal + its borrowing limit
    # (for what this cycle added; running jobs may already be over, e.g. after a change)
    from huangpu.scheduling.quota import running_usage

    before = running_usage(s)
    after = before + placed_ncu
    limit = s.quotas.nominal + np.where((s.quotas.cohort >= 0)[:, None], s.quotas.borrow_limit, 0.0)
    grew = placed_ncu > 0
    assert np.all(after[grew] <= np.maximum(limit[grew], before[grew]) + 1e-9)
    keys = [p.job_key for p in result.placements] + [p.job_key for p in result.pending]
    assert sorted(keys) == sorted(s.job_keys)
    check_reservation(s, result)


def check_reservation(s: Snapshot, result: CycleResult) -> None:
    """Nothing started this cycle delays the head job: at its start time T the reserved nodes
    have its devices free, counting what running and newly placed jobs give back by T."""
    if not result.reservations:
        return
    (res,) = result.reservations
    head = s.job_keys.index(res.job_key)
    index = {key: i for i, key in enumerate(s.node_keys)}
    free_at_t = s.node_free.astype(float).copy()
    r = s.running
    for a in range(len(r.alloc_run)):
        if r.end[r.alloc_run[a]] <= res.start:
            free_at_t[r.alloc_node[a]] += r.alloc_count[a]
    for p in result.placements:
        j = s.job_keys.index(p.job_key)
        # uniform speeds here, so a job's runtime on any chip is its estimate
        ends = s.now + s.job_runtime[j]
        for node_key, _ in p.devices:
            free_at_t[index[node_key]] -= 0 if ends <= res.start else 1
    for key in res.node_keys:
        assert free_at_t[index[key]] >= s.job_accel[head], f"reservation on {key} broken"


@settings(max_examples=200, deadline=None)
@given(worlds)
def test_cell_policies_keep_every_invariant(w: World) -> None:
    s = build(w)
    result = run_cycle(s, w.policy)
    check(s, result)


@settings(max_examples=60, deadline=None)
@given(worlds)
def test_deterministic_for_a_snapshot(w: World) -> None:
    s = build(w)
    one, two = run_cycle(s, w.policy), run_cycle(s, w.policy)
    assert one.placements == two.placements
    assert [(p.job_key, p.reason, p.args) for p in one.pending] == [
        (p.job_key, p.reason, p.args) for p in two.pending
    ]
    assert one.preemptions == two.preemptions and one.reservations == two.reservations


@settings(max_examples=60, deadline=None)
@given(worlds)
def test_preemption_victims_are_lower_priority_or_borrowers(w: World) -> None:
    s = build(w)
    result = run_cycle(s, w.policy)
    victims = [p.job_key for p in result.preemptions]
    assert len(victims) == len(set(victims))
    for p in result.preemptions:
        run = s.running.keys.index(p.job_key)
        job = s.job_keys.index(p.for_job)
        if p.reason.name == "PRIORITY":
            assert s.running.priority[run] < s.job_priority[job]
        else:
            assert s.quotas.cohort[s.running.org[run]] == s.quotas.cohort[s.job_org[job]] >= 0
