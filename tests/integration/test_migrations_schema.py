"""The migrations build exactly the schema `store/tables.py` declares, on both backends: several features
added tables and columns in parallel, and a column missing from one side would only show up at runtime."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from herald.store.database import Database
from herald.store.tables import metadata


def _differences(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
    return list(compare_metadata(context, metadata))


async def test_migrated_database_matches_the_declared_tables(db: Database) -> None:
    async with db.read() as conn:
        diff = await conn.run_sync(_differences)
    assert diff == []
