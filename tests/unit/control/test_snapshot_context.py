"""build_snapshot with a SchedulingContext: prices, regions, residency, suppliers, budget stops."""

from __future__ import annotations

from huangpu.control.snapshots import SchedulingContext, build_snapshot
from huangpu.core.jobspec import jobspec_from_dict
from huangpu.scheduling import PendingReason, run_cycle
from huangpu.store.inventory import DeviceView


def device(pool: str, region: str, node: str, i: int, chip: str = "a100") -> DeviceView:
    return DeviceView(
        pool, pool, region, "agent", node, node, "rack", f"{node}-{i}", i, chip, 80.0, False
    )


DEVICES = [device("p-sh", "shanghai", "n1", i) for i in range(2)] + [
    device("p-sg", "singapore", "n2", i) for i in range(2)
]
CTX = SchedulingContext(
    pool_suppliers={"p-sh": ("sup_1", "telecom"), "p-sg": ("sup_2", "overseas-cloud")},
    price=lambda pool, chip: {"p-sh": 1500, "p-sg": 900}.get(pool),
    orgs=("org_a", "org_b"),
    blocked={"org_b": "monthly budget of 500.00 CNY reached"},
)


def spec(**fields: object):  # type: ignore[no-untyped-def]
    return jobspec_from_dict(
        {"name": "x", "command": "true", "resources": {"chips": ["a100"]}, **fields}
    )


def test_prices_steer_and_residency_and_suppliers_hold() -> None:
    jobs = [
        ("cheap", spec(), 0, 1.0),
        ("home", spec(residency="shanghai"), 0, 2.0),
        ("no-overseas", spec(suppliers_deny=["overseas-cloud"]), 0, 3.0),
        ("stopped", spec(), 1, 4.0),
    ]
    snapshot, index = build_snapshot(DEVICES, jobs, 10.0, context=CTX)
    assert snapshot.market.price_fen.tolist()[0][snapshot.chips.index("a100")] == 1500
    result = run_cycle(snapshot, "cost-aware")
    pool = {p.job_key: index.pool_ids[p.pool_index] for p in result.placements}
    assert pool == {"cheap": "p-sg", "home": "p-sh", "no-overseas": "p-sh"}
    (stopped,) = result.pending
    assert stopped.reason is PendingReason.BUDGET_EXHAUSTED
    assert "500.00 CNY" in stopped.explain()


def test_estimates_deadlines_and_max_price_reach_the_snapshot() -> None:
    jobs = [("j", spec(estimated_hours=2, max_price_cny_per_hour=9.99, kind="serve"), 0, 1.0)]
    s, _ = build_snapshot(DEVICES, jobs, 10.0, context=CTX)
    assert s.job_runtime[0] == 7200 and s.job_max_price[0] == 999
    assert s.market.classes[s.job_class[0]] == "serve"
    assert run_cycle(s, "cost-aware").placements[0].pool_index == s.pools.index("p-sg")
