"""Expunged event content, portal links and event trace contexts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("expunged_at", sa.Float()))
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("propagate_trace", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("egress_proxy", sa.String(64)))
    op.create_table(
        "portal_links",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("subscription_ids", sa.JSON()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float()),
        sa.Column("revoked_at", sa.Float()),
    )
    op.create_index("ix_portal_links_account", "portal_links", ["account_id"])
    op.create_table(
        "event_traces",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("traceparent", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "event_id", name="pk_event_traces"),
    )
    op.create_index("ix_event_traces_created", "event_traces", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_event_traces_created", table_name="event_traces")
    op.drop_table("event_traces")
    op.drop_index("ix_portal_links_account", table_name="portal_links")
    op.drop_table("portal_links")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("egress_proxy")
        batch.drop_column("propagate_trace")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("expunged_at")
