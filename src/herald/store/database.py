"""One interface over SQLite (embedded default) and PostgreSQL.

SQLite allows one writer. The queue's hot path writes on the writer thread (`sqlite_write`, see
sqlite_writer.py); configuration writes use one SQLAlchemy connection that begins `BEGIN IMMEDIATE`, so
in-process writers queue instead of failing with "database is locked", and the two (and other processes
on the same file) wait for each other on `busy_timeout`. Reads use their own pool and run concurrently (WAL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from herald.config import ConfigError
from herald.store.sqlite_writer import PRAGMAS, SqliteWriter

Dialect = Literal["sqlite", "postgresql"]
log = logging.getLogger("herald.store")
T = TypeVar("T")


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


# What asyncpg raises when the server is away: refused/reset sockets (OSError), a server starting up or
# shutting down (57P0x), a connection that died under us.
UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached (restarting, down, connection lost) rather
    than a fault in the request: such requests may simply be repeated once it is back."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, UNAVAILABLE) or (isinstance(e, DBAPIError) and e.connection_invalidated):
            return True
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]
    return False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        driver_url, self.dialect = async_url(url)
        self.is_sqlite = self.dialect == "sqlite"
        self.sqlite_writer: SqliteWriter | None = None
        if self.is_sqlite:
            self.engine = self._sqlite_engine(driver_url, immediate=False, pool_size=pool_size)
            self.write_engine = self._sqlite_engine(driver_url, immediate=True, pool_size=1)
            self.sqlite_writer = SqliteWriter(make_url(driver_url).database or "")
        else:
            self.engine = create_async_engine(
                driver_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_engine = self.engine

    @staticmethod
    def _sqlite_engine(driver_url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(driver_url, pool_size=pool_size, max_overflow=0, pool_timeout=120)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
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
        """PostgreSQL: asyncpg's own connection inside a transaction, for the queue's hot path, where
        SQLAlchemy's per-statement and per-row overhead is measurable. (SQLite: `sqlite_write`.)"""
        async with self.engine.connect() as conn:
            pg: Any = (await conn.get_raw_connection()).driver_connection
            async with pg.transaction():
                yield pg

    async def sqlite_write(self, fn: Callable[..., T], *args: object, durable: bool = True) -> T:
        """SQLite: run `fn(connection, *args)` as one write transaction on the writer thread.

        `durable=False` commits without an fsync of its own: for leases and attempt records, whose loss at
        a power cut only repeats a delivery. WAL order makes them durable with the next fsync (the next
        publish, or a checkpoint); a crash of the process loses nothing either way."""
        assert self.sqlite_writer is not None, "sqlite_write on a PostgreSQL database"
        return await self.sqlite_writer.run(fn, *args, durable=durable)

    async def checkpoint_forever(self, interval: float = 1.0) -> None:
        """SQLite: copy the WAL into the database now and then without blocking writers (PASSIVE), so that
        commits never pay for a checkpoint. A no-op on PostgreSQL."""
        if not self.is_sqlite:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.engine.connect() as conn:
                    raw: Any = (await conn.get_raw_connection()).driver_connection
                    await raw.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:
                log.exception("WAL checkpoint failed; will try again")

    async def dispose(self) -> None:
        if self.sqlite_writer is not None:
            await self.sqlite_writer.close()
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
