"""LiveChat compatibility: subscriptions.livechat, events.context, livechat_license_webhooks

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("livechat", sa.JSON(), nullable=True))
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("context", sa.Text(), nullable=True))
    op.create_table(
        "livechat_license_webhooks",
        sa.Column("application_id", sa.String(40), sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "account_id", name="pk_livechat_license_webhooks"),
    )


def downgrade() -> None:
    op.drop_table("livechat_license_webhooks")
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("context")
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("livechat")
