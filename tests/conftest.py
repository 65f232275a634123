"""Shared fixtures: every storage-touching test runs against real SQLite and real PostgreSQL.

PostgreSQL tests create their own database per test on HERALD_TEST_POSTGRES_URL (default: the local
server as user postgres) and drop it afterwards. Without a reachable server they are skipped, unless
HERALD_TEST_REQUIRE_POSTGRES=1 (CI), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from herald.store.database import Database
from herald.store.migrate import upgrade
from herald.store.secretbox import SecretBox

PG_ADMIN_URL = os.environ.get("HERALD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("HERALD_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = [
    b.strip() for b in os.environ.get("HERALD_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()
]


def _pg_reachable() -> bool:
    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except Exception:
        return False


_PG_OK: bool | None = None


def pg_available() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_reachable()
    return _PG_OK


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def create_pg_database() -> str:
    name = f"herald_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return _with_database(PG_ADMIN_URL, name)


def drop_pg_database(url: str) -> None:
    name = url.rpartition("/")[2]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def _skip_or_fail_without_pg() -> None:
    if not pg_available():
        if REQUIRE_PG:
            pytest.fail(f"HERALD_TEST_REQUIRE_POSTGRES=1 but {PG_ADMIN_URL} is unreachable")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database URL of each backend (sqlite file / new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/herald.db"
        return
    _skip_or_fail_without_pg()
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database of each backend."""
    database = Database(database_url)
    await upgrade(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox([SecretBox.generate_key()])
