"""Ledger tables (migration 0002). Money columns are BigInteger fen; times are float epoch seconds.

A transaction row carries its cause (who or what, for the audit trail); its postings reference
it by idempotency key. ``ledger_balances`` and the spend tables are caches that change only in
the same database transaction as the postings they summarise (``ledger_repo.post``).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from huangpu.store.models import Base, UsageSampleRow

KEY = 200  # ledger.postings.MAX_KEY_LENGTH
ACCOUNT = 200


class LedgerTransactionRow(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        Index("ix_ledger_tx_org_at", "org_id", "at"),
        Index("ix_ledger_tx_supplier_at", "supplier_id", "at"),
        Index("ix_ledger_tx_job", "job_id"),
    )
    key: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    at: Mapped[float] = mapped_column(Float)  # business time (end of the usage window)
    currency: Mapped[str] = mapped_column(String(3))
    cause_kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    org_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    supplier_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    pool_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    chip: Mapped[str | None] = mapped_column(String(128), nullable=True)
    window_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    device_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    reverses: Mapped[str | None] = mapped_column(String(KEY), nullable=True, unique=True)
    posted_at: Mapped[float] = mapped_column(Float)  # wall time it was written


class LedgerPostingRow(Base):
    __tablename__ = "ledger_postings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tx_key: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.key"), index=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class LedgerBalanceRow(Base):
    """Cache of Σ postings per account; tests check it against the sum."""

    __tablename__ = "ledger_balances"
    account: Mapped[str] = mapped_column(String(ACCOUNT), primary_key=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class PriceEntryRow(Base):
    __tablename__ = "price_entries"
    __table_args__ = (UniqueConstraint("pool_id", "chip", "effective_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    supplier_id: Mapped[str] = mapped_column(ForeignKey("suppliers.id"))
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    chip: Mapped[str] = mapped_column(String(32))
    fen_per_hour: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class PlatformFeeRow(Base):
    """Append-only: the fee in effect at t is the latest row with effective_from <= t."""

    __tablename__ = "platform_fees"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fee_bp: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[float] = mapped_column(Float, unique=True)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class VoucherProgramRow(Base):
    """``spent_fen`` is a cache of the subsidies paid; metering locks this row while rating."""

    __tablename__ = "voucher_programs"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    funder: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    rate_bp_domestic: Mapped[int] = mapped_column(Integer)
    rate_bp_other: Mapped[int] = mapped_column(Integer)
    program_budget_fen: Mapped[int] = mapped_column(BigInteger)
    per_tenant_cap_fen: Mapped[int] = mapped_column(BigInteger)
    eligible_suppliers: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    eligible_chips: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    eligible_categories: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    valid_months: Mapped[int] = mapped_column(Integer)
    stack_group: Mapped[str | None] = mapped_column(String(128), nullable=True)
    stack_ceiling_bp: Mapped[int] = mapped_column(Integer)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class VoucherGrantRow(Base):
    __tablename__ = "voucher_grants"
    __table_args__ = (UniqueConstraint("program_id", "org_id", "granted_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("voucher_programs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    granted_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class VoucherSpendRow(Base):
    """Cache of what one org has drawn from one program (the per-tenant cap)."""

    __tablename__ = "voucher_spend"
    org_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    program_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class CreditLineRow(Base):
    """Append-only, for the audit trail: the org's credit line is its latest row."""

    __tablename__ = "credit_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    limit_fen: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    set_at: Mapped[float] = mapped_column(Float)


class OrgBudgetRow(Base):
    __tablename__ = "org_budgets"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    monthly_fen: Mapped[int] = mapped_column(BigInteger)
    hard_stop: Mapped[bool] = mapped_column(Boolean, default=True)
    actor: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[float] = mapped_column(Float)


class OrgMonthSpendRow(Base):
    """Cache of an org's usage per billing month: what budgets and alerts compare against."""

    __tablename__ = "org_month_spend"
    org_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class BudgetAlertRow(Base):
    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("org_id", "month", "threshold_pct"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    threshold_pct: Mapped[int] = mapped_column(Integer)
    spent_fen: Mapped[int] = mapped_column(BigInteger)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    fired_at: Mapped[float] = mapped_column(Float)


class MeteringCursorRow(Base):
    """What one job attempt runs on, recorded at placement (allocations are gone at its end),
    and whether its final charge was made."""

    __tablename__ = "metering_cursors"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    supplier_id: Mapped[str] = mapped_column(String(40))
    pool_id: Mapped[str] = mapped_column(String(40))
    chip: Mapped[str] = mapped_column(String(32))
    devices: Mapped[int] = mapped_column(Integer)
    charged_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AdmissionStopRow(Base):
    """An org whose cash ran out, since when: running jobs get ``cash_grace_seconds``."""

    __tablename__ = "admission_stops"
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[float] = mapped_column(Float)


# What metering looks for: uncharged samples. Partial, so charged samples (nearly all of them)
# leave the index and it stays small however long the platform runs.
_UNCHARGED = UsageSampleRow.charge_key.is_(None)
Index(
    "ix_usage_samples_uncharged",
    UsageSampleRow.job_id,
    UsageSampleRow.attempt,
    sqlite_where=_UNCHARGED,
    postgresql_where=_UNCHARGED,
)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for batched executemany statements (typed for mypy)."""
    return cast(Table, model.__table__)
