"""Alembic migrations, run programmatically (`herald migrate`, and at `herald serve` start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from herald.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, revision: str = "head") -> None:
    def run(sync_conn: Connection) -> None:
        command.upgrade(alembic_config(sync_conn), revision)

    async with db.write() as conn:
        await conn.run_sync(run)
