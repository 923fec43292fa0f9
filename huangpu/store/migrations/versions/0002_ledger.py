"""ledger: transactions, postings, balances, prices, fees, vouchers, budgets, metering

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 22:00:00

Hand-written from huangpu/store/ledger_models.py and checked against `alembic check`-style
autogeneration; tested to upgrade and downgrade on SQLite and PostgreSQL
(tests/unit/store/test_ledger_store.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY = 200


def _by(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=128), nullable=False)


def upgrade() -> None:
    op.create_table(
        "ledger_transactions",
        sa.Column("key", sa.String(length=KEY), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cause_kind", sa.String(length=16), nullable=False),
        _by("actor"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("org_id", sa.String(length=128), nullable=True),
        sa.Column("job_id", sa.String(length=128), nullable=True),
        sa.Column("supplier_id", sa.String(length=128), nullable=True),
        sa.Column("pool_id", sa.String(length=128), nullable=True),
        sa.Column("chip", sa.String(length=128), nullable=True),
        sa.Column("window_start", sa.Float(), nullable=True),
        sa.Column("window_end", sa.Float(), nullable=True),
        sa.Column("device_seconds", sa.BigInteger(), nullable=False),
        sa.Column("reverses", sa.String(length=KEY), nullable=True),
        sa.Column("posted_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sa.UniqueConstraint("reverses"),
    )
    op.create_index("ix_ledger_tx_org_at", "ledger_transactions", ["org_id", "at"])
    op.create_index("ix_ledger_tx_supplier_at", "ledger_transactions", ["supplier_id", "at"])
    op.create_index("ix_ledger_tx_job", "ledger_transactions", ["job_id"])
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tx_key", sa.String(length=KEY), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tx_key"], ["ledger_transactions.key"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_postings_tx_key", "ledger_postings", ["tx_key"])
    op.create_index("ix_ledger_postings_account", "ledger_postings", ["account"])
    op.create_table(
        "ledger_balances",
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "price_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=40), nullable=False),
        sa.Column("chip", sa.String(length=32), nullable=False),
        sa.Column("fen_per_hour", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Float(), nullable=False),
        _by("actor"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["supplier_id"], ["suppliers.id"]),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool_id", "chip", "effective_from"),
    )
    op.create_table(
        "platform_fees",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fee_bp", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Float(), nullable=False),
        _by("actor"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("effective_from"),
    )
    op.create_table(
        "voucher_programs",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        _by("funder"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rate_bp_domestic", sa.Integer(), nullable=False),
        sa.Column("rate_bp_other", sa.Integer(), nullable=False),
        sa.Column("program_budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("per_tenant_cap_fen", sa.BigInteger(), nullable=False),
        sa.Column("eligible_suppliers", sa.JSON(), nullable=True),
        sa.Column("eligible_chips", sa.JSON(), nullable=True),
        sa.Column("eligible_categories", sa.JSON(), nullable=True),
        sa.Column("valid_months", sa.Integer(), nullable=False),
        sa.Column("stack_group", sa.String(length=128), nullable=True),
        sa.Column("stack_ceiling_bp", sa.Integer(), nullable=False),
        sa.Column("spent_fen", sa.BigInteger(), nullable=False),
        _by("actor"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "voucher_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("program_id", sa.String(length=128), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("granted_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        _by("actor"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["voucher_programs.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "org_id", "granted_at"),
    )
    op.create_index("ix_voucher_grants_program_id", "voucher_grants", ["program_id"])
    op.create_index("ix_voucher_grants_org_id", "voucher_grants", ["org_id"])
    op.create_table(
        "voucher_spend",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("program_id", sa.String(length=128), nullable=False),
        sa.Column("spent_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id"),
    )
    op.create_table(
        "credit_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        _by("actor"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("set_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_lines_org_id", "credit_lines", ["org_id"])
    op.create_table(
        "org_budgets",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("monthly_fen", sa.BigInteger(), nullable=False),
        sa.Column("hard_stop", sa.Boolean(), nullable=False),
        _by("actor"),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_table(
        "org_month_spend",
        sa.Column("org_id", sa.String(length=128), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "month"),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("threshold_pct", sa.Integer(), nullable=False),
        sa.Column("spent_fen", sa.BigInteger(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "month", "threshold_pct"),
    )
    op.create_index("ix_budget_alerts_org_id", "budget_alerts", ["org_id"])
    op.create_table(
        "metering_cursors",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("supplier_id", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.String(length=40), nullable=False),
        sa.Column("chip", sa.String(length=32), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("charged_until", sa.Float(), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id", "attempt"),
    )
    op.create_index("ix_metering_cursors_closed", "metering_cursors", ["closed"])
    op.create_table(
        "admission_stops",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("org_id"),
    )
    with op.batch_alter_table("usage_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charge_key", sa.String(length=200), nullable=True))
    # Partial: only uncharged samples are indexed, so the index stays small.
    uncharged = sa.text("charge_key IS NULL")
    op.create_index(
        "ix_usage_samples_uncharged",
        "usage_samples",
        ["job_id", "attempt"],
        sqlite_where=uncharged,
        postgresql_where=uncharged,
    )


def downgrade() -> None:
    op.drop_index("ix_usage_samples_uncharged", table_name="usage_samples")
    with op.batch_alter_table("usage_samples", schema=None) as batch_op:
        batch_op.drop_column("charge_key")
    op.drop_table("admission_stops")
    op.drop_index("ix_metering_cursors_closed", table_name="metering_cursors")
    op.drop_table("metering_cursors")
    op.drop_index("ix_budget_alerts_org_id", table_name="budget_alerts")
    op.drop_table("budget_alerts")
    op.drop_table("org_month_spend")
    op.drop_table("org_budgets")
    op.drop_index("ix_credit_lines_org_id", table_name="credit_lines")
    op.drop_table("credit_lines")
    op.drop_table("voucher_spend")
    op.drop_index("ix_voucher_grants_org_id", table_name="voucher_grants")
    op.drop_index("ix_voucher_grants_program_id", table_name="voucher_grants")
    op.drop_table("voucher_grants")
    op.drop_table("voucher_programs")
    op.drop_table("platform_fees")
    op.drop_table("price_entries")
    op.drop_table("ledger_balances")
    op.drop_index("ix_ledger_postings_account", table_name="ledger_postings")
    op.drop_index("ix_ledger_postings_tx_key", table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_index("ix_ledger_tx_job", table_name="ledger_transactions")
    op.drop_index("ix_ledger_tx_supplier_at", table_name="ledger_transactions")
    op.drop_index("ix_ledger_tx_org_at", table_name="ledger_transactions")
    op.drop_table("ledger_transactions")
