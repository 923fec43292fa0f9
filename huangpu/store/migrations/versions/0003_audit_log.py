"""audit log of operator actions, and the wall's utilisation samples

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:00:00

Chains after the ledger's 0002, so the history keeps one head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("token_id", sa.String(length=40), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_table(
        "util_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("pool_id", sa.String(length=40), nullable=False),
        sa.Column("in_use", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_util_samples_at", "util_samples", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_util_samples_at", table_name="util_samples")
    op.drop_table("util_samples")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
