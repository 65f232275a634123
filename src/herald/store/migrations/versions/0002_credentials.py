"""credentials (Data Transporter security schemes) and subscriptions.credential_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scheme", sa.String(length=20), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_expires_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("rotated_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credentials") as batch_op:
        batch_op.create_index("ix_credentials_account", ["account_id"], unique=False)
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("credential_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            "fk_subscriptions_credential_id", "credentials", ["credential_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_constraint("fk_subscriptions_credential_id", type_="foreignkey")
        batch_op.drop_column("credential_id")
    with op.batch_alter_table("credentials") as batch_op:
        batch_op.drop_index("ix_credentials_account")
    op.drop_table("credentials")
