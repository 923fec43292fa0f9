"""Builders shared by the ledger tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from datetime import datetime

from huangpu.ledger import (
    Cause,
    CauseKind,
    ProgramKind,
    Transaction,
    UsageLine,
    VoucherProgram,
    funder,
    program_budget,
    transfer,
)
from huangpu.ledger.periods import BILLING_TZ

OPERATOR = Cause(CauseKind.OPERATOR, "operator:alice")


def at(text: str) -> float:
    """'2026-11-02 09:00' in Beijing time, as epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BILLING_TZ).timestamp()


T0 = at("2026-11-02 09:00")


def program(
    pid: str = "sh-city",
    *,
    rate: int = 3000,
    rate_other: int | None = None,
    budget: int = 10_000_000,
    cap: int = 1_000_000,
    kind: ProgramKind = ProgramKind.COMPUTE,
    stack_group: str | None = "shanghai",
    ceiling: int = 10_000,
    **extra: object,
) -> VoucherProgram:
    return VoucherProgram(
        id=pid,
        name=f"{pid} compute vouchers",
        funder=pid.split("-")[-1],
        kind=kind,
        rate_bp_domestic=rate,
        rate_bp_other=rate if rate_other is None else rate_other,
        program_budget_fen=budget,
        per_tenant_cap_fen=cap,
        stack_group=stack_group,
        stack_ceiling_bp=ceiling,
        **extra,  # type: ignore[arg-type]
    )


def line(
    *,
    job_id: str = "job_1",
    org: str = "org_acme",
    category: str = "startup",
    supplier: str = "ascend-center",
    pool: str = "pool_ascend",
    chip: str = "910b2",
    kind: str = "train",
    device_seconds: int = 3600,
    start: float = T0,
    end: float | None = None,
) -> UsageLine:
    return UsageLine(
        job_id=job_id,
        org=org,
        org_category=category,
        supplier=supplier,
        pool=pool,
        chip=chip,
        job_kind=kind,
        device_seconds=device_seconds,
        start=start,
        end=start + 3600 if end is None else end,
    )


def funding(prog: VoucherProgram, when: float = T0 - 86_400) -> Transaction:
    """The operator fills a program's budget from its funder."""
    return transfer(
        f"fund:{prog.id}",
        funder(prog.funder),
        program_budget(prog.id),
        prog.program_budget_fen,
        OPERATOR,
        when,
    )
