"""Builders for the persisted-ledger tests (imported by name: conftest puts this folder on
sys.path): ``Books`` writes the rows metering reads (orgs, a pool, jobs, usage samples)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select

from huangpu.core.clock import ManualClock
from huangpu.core.ids import new_id
from huangpu.core.jobspec import JobSpec
from huangpu.core.states import JobState
from huangpu.ledger import (
    PriceEntry,
    ProgramKind,
    VoucherProgram,
    balances_of,
    program_spend,
    statement,
    tenant_program_spend,
)
from huangpu.ledger.periods import BILLING_TZ
from huangpu.store import jobs as job_repo
from huangpu.store import ledger_repo, pricing_repo, registry, voucher_repo
from huangpu.store.db import Database
from huangpu.store.ledger_models import (
    LedgerPostingRow,
    MeteringCursorRow,
    OrgMonthSpendRow,
    VoucherProgramRow,
    VoucherSpendRow,
)
from huangpu.store.models import AgentRow, JobRow, UsageSampleRow


def at(text_: str) -> float:
    """'2026-11-02 09:00' in Beijing time, as epoch seconds."""
    return datetime.strptime(text_, "%Y-%m-%d %H:%M").replace(tzinfo=BILLING_TZ).timestamp()


T0 = at("2026-11-02 09:00")
OP = "operator:test"


def city(budget: int = 10_000_000, cap: int = 5_000_000, **extra: object) -> VoucherProgram:
    return VoucherProgram(
        id="sh-city",
        name="Shanghai compute vouchers",
        funder="shanghai",
        kind=ProgramKind.COMPUTE,
        rate_bp_domestic=3000,
        rate_bp_other=2000,
        program_budget_fen=budget,
        per_tenant_cap_fen=cap,
        stack_group="shanghai",
        **extra,  # type: ignore[arg-type]
    )


def district() -> VoucherProgram:
    return VoucherProgram(
        id="xuhui",
        name="Xuhui district top-up",
        funder="xuhui",
        kind=ProgramKind.COMPUTE,
        rate_bp_domestic=2000,
        rate_bp_other=2000,
        program_budget_fen=10_000_000,
        per_tenant_cap_fen=5_000_000,
        stack_group="shanghai",
    )


class Books:
    """One org ('acme', a startup), one supplier with a 910B pool and an agent."""

    def __init__(self, db: Database, clock: ManualClock) -> None:
        self.db, self.clock = db, clock
        with db.write() as s:
            self.org = registry.create_org(s, "acme", "startup", 0).id
            self.other = registry.create_org(s, "other", "company", 0).id
            self.supplier = registry.create_supplier(s, "ascend-center", 0).id
            self.pool = registry.create_pool(s, "p-910b", "ascend-center", "sh", "local", 0).id
            self.agent = new_id("agent")
            s.add(
                AgentRow(
                    id=self.agent,
                    pool_id=self.pool,
                    name="a1",
                    executor="local",
                    last_seen=0,
                    last_seq=0,
                    registered_at=0,
                )
            )

    def price(self, fen: int = 300, when: float = T0 - 86_400) -> None:
        with self.db.write() as s:
            entry = PriceEntry(self.supplier, self.pool, "910b2", fen, when)
            pricing_repo.add_price(s, entry, when, OP)

    def program(self, program: VoucherProgram, *orgs: str, when: float = T0 - 3600) -> None:
        with self.db.write() as s:
            voucher_repo.create_program(s, program, when, OP)
            for org in orgs or (self.org,):
                voucher_repo.add_grant(s, program, org, when, when, OP)

    def job(
        self,
        org: str | None = None,
        devices: int = 8,
        state: JobState = JobState.RUNNING,
        kind: str = "train",
    ) -> str:
        spec = JobSpec.model_validate({"name": "train", "command": "true", "kind": kind})
        with self.db.write() as s:
            row = job_repo.insert_job(s, org or self.org, spec, 0)
            row.state, row.attempt, row.pool_id = state.value, 1, self.pool
            s.flush()
            s.add(
                MeteringCursorRow(
                    job_id=row.id,
                    attempt=1,
                    org_id=row.org_id,
                    supplier_id=self.supplier,
                    pool_id=self.pool,
                    chip="910b2",
                    devices=devices,
                    closed=False,
                )
            )
            return row.id

    def samples(self, job: str, start: float, end: float, step: float, devices: int = 8) -> None:
        rows = []
        t = start
        while t < end:
            stop = min(end, t + step)
            rows.append(
                {
                    "job_id": job,
                    "attempt": 1,
                    "agent_id": self.agent,
                    "start": t,
                    "end": stop,
                    "devices": devices,
                    "device_seconds": devices * (stop - t),
                }
            )
            t = stop
        with self.db.write() as s:
            s.execute(insert(UsageSampleRow), rows)

    def end(self, job: str) -> None:
        with self.db.write() as s:
            row = s.get(JobRow, job)
            assert row is not None
            row.state = JobState.SUCCEEDED.value


def check_books(db: Database) -> None:
    """Every transaction sums to zero; every cached figure equals what the postings say."""
    with db.read() as s:
        per_tx = s.execute(
            select(LedgerPostingRow.tx_key, func.sum(LedgerPostingRow.amount_fen)).group_by(
                LedgerPostingRow.tx_key
            )
        ).all()
        assert all(total == 0 for _, total in per_tx)
        txs = ledger_repo.transactions(s)
        assert {a: v for a, v in ledger_repo.balances(s).items() if v} == balances_of(txs)
        assert sum(ledger_repo.balances(s).values()) == 0
        spent = {r.id: int(r.spent_fen) for r in s.scalars(select(VoucherProgramRow))}
        assert {k: v for k, v in spent.items() if v} == program_spend(txs)
        cached = {
            (r.org_id, r.program_id): int(r.spent_fen)
            for r in s.scalars(select(VoucherSpendRow))
            if r.spent_fen
        }
        assert cached == tenant_program_spend(txs)
        for row in s.scalars(select(OrgMonthSpendRow)):
            bill = statement(txs, row.org_id, row.month)
            assert (row.gross_fen, row.cash_fen) == (bill.gross_fen, bill.cash_fen)
