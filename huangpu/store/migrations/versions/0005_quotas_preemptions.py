"""quotas per org and chip family, cohorts, and requested preemptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 12:00:00

Chains after 0004 (token expiry), so the history keeps one head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_quotas",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("nominal", sa.Float(), nullable=False),
        sa.Column("borrow_limit", sa.Float(), nullable=True),
        sa.Column("lend_limit", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("org_id", "family"),
    )
    op.create_table(
        "org_cohorts",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("cohort", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_index("ix_org_cohorts_cohort", "org_cohorts", ["cohort"], unique=False)
    op.create_table(
        "job_preemptions",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("for_job", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("grace_s", sa.Float(), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id", "attempt"),
    )


def downgrade() -> None:
    op.drop_table("job_preemptions")
    op.drop_index("ix_org_cohorts_cohort", table_name="org_cohorts")
    op.drop_table("org_cohorts")
    op.drop_table("org_quotas")
