"""mTLS certificate mappings, access tokens (PATs, OAuth), subscriptions.mtls_via_gateway

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mtls_mappings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("ca_bundle", sa.Text(), nullable=True),
        sa.Column("allow_plain_fallback", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("not_after", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "service", "url", name="uq_mtls_mappings_triplet"),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("application_id", sa.String(length=40), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("access_tokens") as batch_op:
        batch_op.create_index("ix_access_tokens_account", ["account_id"], unique=False)
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.add_column(sa.Column("mtls_via_gateway", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch_op:
        batch_op.drop_column("mtls_via_gateway")
    with op.batch_alter_table("access_tokens") as batch_op:
        batch_op.drop_index("ix_access_tokens_account")
    op.drop_table("access_tokens")
    op.drop_table("mtls_mappings")
