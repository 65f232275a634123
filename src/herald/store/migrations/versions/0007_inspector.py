"""inspector bins and captured requests; herald listen sessions and relayed requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspect_bins",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("response_delay", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_inspect_bins_account", "inspect_bins", ["account_id"])
    op.create_index("ix_inspect_bins_expires", "inspect_bins", ["expires_at"])
    op.create_table(
        "inspect_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("bin_id", sa.String(40), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_encoding", sa.String(10), nullable=False),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_inspect_requests_bin_created", "inspect_requests", ["bin_id", "created_at"])
    op.create_table(
        "listen_sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("forward_to", sa.Text()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_listen_sessions_seen", "listen_sessions", ["seen_at"])
    op.create_table(
        "listen_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("claimed_at", sa.Float()),
        sa.Column("answered_at", sa.Float()),
        sa.Column("status_code", sa.Integer()),
        sa.Column("response_headers", sa.JSON()),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("error_message", sa.Text()),
    )
    op.create_index("ix_listen_requests_session", "listen_requests", ["session_id", "created_at"])


def downgrade() -> None:
    op.drop_table("listen_requests")
    op.drop_table("listen_sessions")
    op.drop_table("inspect_requests")
    op.drop_table("inspect_bins")
