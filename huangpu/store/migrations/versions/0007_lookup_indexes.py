"""index nodes by agent, and jobs by state and last change

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:05:00

- ``nodes.agent_id``: registration, heartbeats with inventory and the backlog look a node up
  by its agent. Without an index each lookup read the whole table, so registering 10,000
  agents slowed down as the table grew.
- ``jobs (state, updated_at)`` replaces ``jobs (state)``: it serves every lookup by state as
  before, and the runtime history's "succeeded in the last 14 days, newest first" reads only
  those rows instead of every job that ever succeeded. One index, not two, so job updates
  pay nothing more.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_nodes_agent_id", "nodes", ["agent_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_state_updated", ["state", "updated_at"])
        batch.drop_index("ix_jobs_state")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_state", ["state"])
        batch.drop_index("ix_jobs_state_updated")
    op.drop_index("ix_nodes_agent_id", table_name="nodes")
