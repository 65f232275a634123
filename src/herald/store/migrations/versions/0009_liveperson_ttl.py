"""liveperson_ttl: subscription retention_time, installation state timestamps, transitions, drain keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("state_changed_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("drain_until", sa.Float(), nullable=True))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("retention_time", sa.Integer(), nullable=True))
    op.create_table(
        "installation_transitions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("installation_id", sa.String(40), nullable=False),
        sa.Column("application_id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_installation_transitions_installation",
        "installation_transitions",
        ["installation_id", "created_at"],
    )
    op.create_table(
        "ttl_drain_conversations",
        sa.Column("installation_id", sa.String(40), nullable=False),
        sa.Column("ordering_key", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("installation_id", "ordering_key", name="pk_ttl_drain_conversations"),
    )


def downgrade() -> None:
    op.drop_table("ttl_drain_conversations")
    op.drop_index("ix_installation_transitions_installation", table_name="installation_transitions")
    op.drop_table("installation_transitions")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("retention_time")
    with op.batch_alter_table("installations") as batch:
        batch.drop_column("drain_until")
        batch.drop_column("state_changed_at")
