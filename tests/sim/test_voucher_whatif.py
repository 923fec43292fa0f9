"""Voucher what-if on a tiny priced city, billed through the production ledger."""

from __future__ import annotations

import numpy as np

from huangpu.ledger import ProgramKind, VoucherProgram
from huangpu.scheduling.throughput import ThroughputMatrix
from huangpu.sim import voucher_whatif
from huangpu.sim.engine import SimConfig
from huangpu.sim.jobs import SimJob, Trace
from huangpu.sim.world import PoolSpec, World

PROGRAM = VoucherProgram(
    id="hz-2025",
    name="Hangzhou compute vouchers",
    funder="city",
    kind=ProgramKind.COMPUTE,
    rate_bp_domestic=3000,
    rate_bp_other=2000,
    program_budget_fen=1_000_000,
    per_tenant_cap_fen=1_000,
)


def _trace() -> Trace:
    world = World(
        (
            PoolSpec("ascend", "910b2", 1, 8, supplier="telecom", price_fen_per_hour=1000),
            PoolSpec("nv", "a100", 1, 8, supplier="cloud", price_fen_per_hour=2000),
        )
    )
    matrix = ThroughputMatrix(("default",), ("910b2", "a100"), np.ones((1, 2)), (("test", "test"),))
    jobs = [
        SimJob(f"j{i}", f"org{i % 3}", float(i * 60), "default", 4 * 3600.0, accel=4)
        for i in range(6)
    ]
    return Trace("tenants", world, matrix, iter(jobs))


def test_subsidy_caps_and_revenue() -> None:
    out = voucher_whatif.compare(_trace, PROGRAM, SimConfig("first-fit"))
    w, v = out["without"], out["with"]
    assert sum(w["subsidy_by_program_fen"].values()) == 0
    # Each org rents ≥ 2 jobs × 4 devices × 1 h ≥ 80 CNY: 20–30% is far over the 10 CNY cap.
    assert v["subsidy_by_program_fen"]["hz-2025"] == 3 * 1_000
    assert v["orgs_at_cap"]["hz-2025"] == ["org0", "org1", "org2"]
    # Suppliers are paid the full rent either way; the voucher moves who pays.
    assert v["revenue_by_supplier_fen"] == w["revenue_by_supplier_fen"]
    assert sum(v["cash_by_org_fen"].values()) == sum(w["cash_by_org_fen"].values()) - 3_000
    assert "Voucher what-if" in voucher_whatif.markdown(out)
