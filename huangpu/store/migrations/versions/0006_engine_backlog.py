"""pools may set an engine backlog

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 23:30:00

``pools.engine_backlog``: how many jobs beyond its free devices the scheduler may hand an
engine-backed pool (Slurm, Ray) to keep in the engine's own queue. NULL means the default
(the pool's device count for Slurm and Ray pools, none for the others), so existing pools
get the default.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools") as batch:
        batch.add_column(sa.Column("engine_backlog", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pools") as batch:
        batch.drop_column("engine_backlog")
