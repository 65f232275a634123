"""Endpoint health columns, per-endpoint limits, operational URL and operational events

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("disabled_reason", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("first_failure_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_failure_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_success_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("failing", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("latency_ewma", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("slow_since", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("slow_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("rate_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rate_limit_burst", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
    with op.batch_alter_table("applications") as batch_op:
        batch_op.add_column(sa.Column("operational_url", sa.Text(), nullable=True))
    op.create_table(
        "operational_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("application_id", sa.String(40), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_operational_events_application", "operational_events", ["application_id", "created_at"]
    )
    op.create_index("ix_operational_events_account", "operational_events", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_operational_events_account", "operational_events")
    op.drop_index("ix_operational_events_application", "operational_events")
    op.drop_table("operational_events")
    with op.batch_alter_table("applications") as batch_op:
        batch_op.drop_column("operational_url")
    with op.batch_alter_table("subscriptions") as batch_op:
        for name in (
            "max_concurrency", "rate_limit_burst", "rate_limit", "slow_attempts", "slow_since",
            "latency_ewma", "failing", "last_success_at", "last_failure_at", "first_failure_at",
            "consecutive_failures", "disabled_at", "disabled_reason",
        ):  # fmt: skip
            batch_op.drop_column(name)
