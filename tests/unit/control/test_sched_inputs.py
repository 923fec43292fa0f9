"""What load_context reads for the scheduler: voucher subsidies per (org, chip) as the ledger
would bill them, running jobs, and fair-share usage with a half-life."""

from __future__ import annotations

from pathlib import Path

from huangpu.control.fairshare_usage import decayed_usage
from huangpu.control.subsidies import subsidy_table
from huangpu.ledger import ProgramKind, VoucherProgram
from huangpu.store import registry, voucher_repo
from huangpu.store.db import connect
from huangpu.store.ledger_models import MeteringCursorRow
from huangpu.store.models import AgentRow, JobRow, PoolRow, SupplierRow, UsageSampleRow

NOW = 1_764_000_000.0


def program(pid: str, domestic: int, other: int, **extra: object) -> VoucherProgram:
    return VoucherProgram(
        id=pid,
        name=pid,
        funder="city",
        kind=ProgramKind.COMPUTE,
        rate_bp_domestic=domestic,
        rate_bp_other=other,
        program_budget_fen=10_000_000,
        per_tenant_cap_fen=1_000_000,
        **extra,  # type: ignore[arg-type]
    )


def test_subsidies_follow_the_ledgers_rules(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'h.db'}")
    with db.write() as s:
        acme = registry.create_org(s, "acme", "startup", NOW).id
        other = registry.create_org(s, "other", "startup", NOW).id
        for p in (
            program("hz", 3000, 2000),
            program("only-sup", 5000, 5000, eligible_suppliers=frozenset({"sup_x"})),
        ):
            voucher_repo.create_program(s, p, NOW, "op")
            voucher_repo.add_grant(s, p, acme, NOW - 10, NOW, "op")
        table = subsidy_table(s, NOW, [acme, other], ["910b2", "a100"])
    # Domestic chips 30 %, others 20 %; the supplier-limited program is never promised.
    assert table == {(acme, "910b2"): 3000, (acme, "a100"): 2000}
    db.dispose()


def test_fair_share_usage_halves_every_half_life(tmp_path: Path) -> None:
    db = connect(f"sqlite:///{tmp_path / 'h.db'}")
    hour = 3600.0
    with db.write() as s:
        org = registry.create_org(s, "acme", "startup", NOW).id
        s.add(SupplierRow(id="sup", name="sup", created_at=NOW))
        s.flush()
        s.add(PoolRow(id="p", name="p", supplier_id="sup", region="sh", executor="local",
                      created_at=NOW))  # fmt: skip
        s.flush()
        s.add(AgentRow(id="ag", pool_id="p", name="a", executor="local", last_seen=NOW,
                       last_seq=0, registered_at=NOW))  # fmt: skip
        s.add(JobRow(id="j", org_id=org, name="j", kind="train", spec={}, state="RUNNING",
                     priority=0, attempt=1, created_at=NOW, updated_at=NOW))  # fmt: skip
        s.flush()
        s.add(MeteringCursorRow(job_id="j", attempt=1, org_id=org, supplier_id="sup",
                                pool_id="p", chip="a100", devices=1))  # fmt: skip
        # 1,000 device-seconds that ended one half-life ago, 1,000 that ended just now.
        for end in (NOW - hour, NOW):
            s.add(UsageSampleRow(job_id="j", attempt=1, agent_id="ag", start=end - 1000,
                                 end=end, devices=1, device_seconds=1000.0))  # fmt: skip
    with db.read() as s:
        usage = decayed_usage(s, NOW, hour, {"a100": 1.0})
    assert 1000 + 500 * 0.95 < usage[org] < 1000 * 1.05 + 500 * 1.05
    db.dispose()
