"""recovery: background jobs (recover, replay), deliveries.replay_of, indexes for replay and retention

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("account_id", sa.String(64)),
        sa.Column("application_id", sa.String(40)),
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer()),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("affected", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("lease", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float()),
        sa.Column("finished_at", sa.Float()),
        sa.UniqueConstraint("scope", "idempotency_key", name="uq_jobs_idempotency"),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_due", ["status", "lease_until"])
        batch_op.create_index("ix_jobs_scope_created", ["scope", "created_at"])
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("replay_of", sa.String(40), nullable=True))
        batch_op.create_index("ix_deliveries_created", ["created_at"])
    with op.batch_alter_table("events") as batch_op:
        batch_op.create_index("ix_events_created", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_index("ix_events_created")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_created")
        batch_op.drop_column("replay_of")
    op.drop_table("jobs")
