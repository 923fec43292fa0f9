"""index nodes by agent

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 03:05:00

Registration, heartbeats with inventory, the backlog and the wall all look a node up by its
agent. Without an index each lookup read the whole table: registering 10,000 agents of
one node each slowed down as the table grew.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_nodes_agent_id", "nodes", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_nodes_agent_id", table_name="nodes")
