"""Stream sources and their dead letters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("group_name", sa.String(255), nullable=False),
        sa.Column("account", sa.String(64)),
        sa.Column("account_field", sa.String(255)),
        sa.Column("type_field", sa.String(255), nullable=False),
        sa.Column("id_field", sa.String(255), nullable=False),
        sa.Column("data_field", sa.String(255), nullable=False),
        sa.Column("ordering_key_field", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "source_dead_letters",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_source_dead_letters_source", "source_dead_letters", ["source_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_source_dead_letters_source", "source_dead_letters")
    op.drop_table("source_dead_letters")
    op.drop_table("sources")
