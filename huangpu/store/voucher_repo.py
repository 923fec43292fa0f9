"""Voucher programs, grants and what has been drawn from them.

A program's budget is funded when it is created: one transfer ``fund:<program>`` from its
funder's account into ``program_budget:<program>``, in the same database transaction.
Metering locks program rows (``lock_programs``) while it reads what is left and posts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huangpu.core.errors import Conflict, InvalidInput, NotFound
from huangpu.ledger import (
    Cause,
    CauseKind,
    ProgramKind,
    VoucherGrant,
    VoucherProgram,
    funder,
    program_budget,
    transfer,
)
from huangpu.store import ledger_repo
from huangpu.store.ledger_models import VoucherGrantRow, VoucherProgramRow, VoucherSpendRow


def _set(value: list[str] | None) -> frozenset[str] | None:
    return frozenset(value) if value else None


def _list(value: frozenset[str] | None) -> list[str] | None:
    return sorted(value) if value is not None else None


def to_program(row: VoucherProgramRow) -> VoucherProgram:
    return VoucherProgram(
        id=row.id,
        name=row.name,
        funder=row.funder,
        kind=ProgramKind(row.kind),
        rate_bp_domestic=row.rate_bp_domestic,
        rate_bp_other=row.rate_bp_other,
        program_budget_fen=int(row.program_budget_fen),
        per_tenant_cap_fen=int(row.per_tenant_cap_fen),
        eligible_suppliers=_set(row.eligible_suppliers),
        eligible_chips=_set(row.eligible_chips),
        eligible_categories=_set(row.eligible_categories),
        valid_months=row.valid_months,
        stack_group=row.stack_group,
        stack_ceiling_bp=row.stack_ceiling_bp,
    )


def create_program(
    session: Session, program: VoucherProgram, now: float, actor: str
) -> VoucherProgramRow:
    if session.get(VoucherProgramRow, program.id) is not None:
        raise Conflict(f"a voucher program {program.id!r} already exists", "id")
    row = VoucherProgramRow(
        id=program.id,
        name=program.name,
        funder=program.funder,
        kind=program.kind.value,
        rate_bp_domestic=program.rate_bp_domestic,
        rate_bp_other=program.rate_bp_other,
        program_budget_fen=program.program_budget_fen,
        per_tenant_cap_fen=program.per_tenant_cap_fen,
        eligible_suppliers=_list(program.eligible_suppliers),
        eligible_chips=_list(program.eligible_chips),
        eligible_categories=_list(program.eligible_categories),
        valid_months=program.valid_months,
        stack_group=program.stack_group,
        stack_ceiling_bp=program.stack_ceiling_bp,
        spent_fen=0,
        actor=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    cause = Cause(CauseKind.OPERATOR, actor, note=f"fund voucher program {program.id}")
    ledger_repo.post(
        session,
        [
            transfer(
                f"fund:{program.id}",
                funder(program.funder),
                program_budget(program.id),
                program.program_budget_fen,
                cause,
                now,
            )
        ],
        now,
    )
    return row


def program_row(session: Session, program_id: str) -> VoucherProgramRow:
    row = session.get(VoucherProgramRow, program_id)
    if row is None:
        raise NotFound(
            f"no voucher program {program_id!r}; list them with `huangpu vouchers`", "program"
        )
    return row


def program_rows(session: Session) -> Sequence[VoucherProgramRow]:
    return session.scalars(select(VoucherProgramRow).order_by(VoucherProgramRow.id)).all()


def lock_programs(session: Session, ids: Sequence[str]) -> dict[str, VoucherProgramRow]:
    """The program rows, locked FOR UPDATE on PostgreSQL in id order (so lockers never deadlock).

    SQLite ignores FOR UPDATE; there the writer already holds the database lock (BEGIN
    IMMEDIATE). Either way nobody else can spend these budgets until we commit.
    """
    if not ids:
        return {}
    rows = session.scalars(
        select(VoucherProgramRow)
        .where(VoucherProgramRow.id.in_(sorted(set(ids))))
        .order_by(VoucherProgramRow.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {r.id: r for r in rows}


def add_grant(
    session: Session,
    program: VoucherProgram,
    org_id: str,
    granted_at: float,
    now: float,
    actor: str,
) -> VoucherGrantRow:
    grant = program.grant(org_id, granted_at)
    if grant.expires_at <= now:
        raise InvalidInput(
            f"a grant made at {granted_at} expired at {grant.expires_at}; grant from a later date",
            "granted_at",
        )
    clash = session.scalar(
        select(VoucherGrantRow.id).where(
            VoucherGrantRow.program_id == program.id,
            VoucherGrantRow.org_id == org_id,
            VoucherGrantRow.expires_at > granted_at,
            VoucherGrantRow.granted_at < grant.expires_at,
        )
    )
    if clash is not None:
        raise Conflict(f"org already holds a grant of {program.id} over that period", "org")
    row = VoucherGrantRow(
        program_id=program.id,
        org_id=org_id,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        actor=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def grants(session: Session, org_ids: Sequence[str] | None = None) -> list[VoucherGrant]:
    query = select(VoucherGrantRow).order_by(VoucherGrantRow.id)
    if org_ids is not None:
        query = query.where(VoucherGrantRow.org_id.in_(list(org_ids)))
    return [
        VoucherGrant(r.program_id, r.org_id, r.granted_at, r.expires_at)
        for r in session.scalars(query)
    ]


def tenant_spend(session: Session, org_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(VoucherSpendRow.org_id, VoucherSpendRow.program_id, VoucherSpendRow.spent_fen).where(
            VoucherSpendRow.org_id.in_(list(org_ids))
        )
    )
    return {(org, program): int(spent) for org, program, spent in rows}


def top_tenants(session: Session, program_id: str, limit: int = 3) -> list[tuple[str, int]]:
    rows = session.execute(
        select(VoucherSpendRow.org_id, VoucherSpendRow.spent_fen)
        .where(VoucherSpendRow.program_id == program_id, VoucherSpendRow.spent_fen > 0)
        .order_by(VoucherSpendRow.spent_fen.desc(), VoucherSpendRow.org_id)
        .limit(limit)
    )
    return [(org, int(spent)) for org, spent in rows]


def grant_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(VoucherGrantRow.program_id, func.count()).group_by(VoucherGrantRow.program_id)
    )
    return {program: int(n) for program, n in rows}
