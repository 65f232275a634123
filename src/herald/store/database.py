"""One interface over SQLite (embedded default) and PostgreSQL.

SQLite allows one writer: writes go through a single connection that begins `BEGIN IMMEDIATE`, so
in-process writers queue for it instead of failing with "database is locked", and other processes on the
same file wait on `busy_timeout`. Reads use their own pool and run concurrently (WAL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from herald.config import ConfigError

Dialect = Literal["sqlite", "postgresql"]


def async_url(url: str) -> tuple[str, Dialect]:
    """Map a user-facing database URL to its async driver URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with an unhelpful message
        raise ConfigError(f"HERALD_DATABASE_URL is not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite")), "sqlite"
    if backend in ("postgresql", "postgres"):
        return str(parsed.set(drivername="postgresql+asyncpg")), "postgresql"
    raise ConfigError(f"HERALD_DATABASE_URL must start with sqlite:// or postgresql://, got {url!r}")


def _sqlite_pragmas(immediate: bool) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an accepted event survives power loss, not only a crash
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        driver_url, self.dialect = async_url(url)
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            self.engine = self._sqlite_engine(driver_url, immediate=False, pool_size=pool_size)
            self.write_engine = self._sqlite_engine(driver_url, immediate=True, pool_size=1)
        else:
            self.engine = create_async_engine(
                driver_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_engine = self.engine

    @staticmethod
    def _sqlite_engine(driver_url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(driver_url, pool_size=pool_size, max_overflow=0, pool_timeout=120)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(immediate))
        begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin_sql))
        return engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block exits without an exception."""
        async with self.write_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[Any]:
        """The driver's own connection (aiosqlite / asyncpg) inside a write transaction, for the queue's
        hot path, where SQLAlchemy's per-statement and per-row overhead is measurable."""
        if self.is_sqlite:
            async with self.write() as conn:
                yield (await conn.get_raw_connection()).driver_connection
            return
        async with self.engine.connect() as conn:
            pg: Any = (await conn.get_raw_connection()).driver_connection
            async with pg.transaction():
                yield pg

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
