"""SQLite's one writer as one thread: each hot-path transaction runs whole in that thread, one hop from the
event loop instead of one per statement (aiosqlite's model), which halves the writer's occupancy under load.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


# Every Herald SQLite connection, the writer thread's and SQLAlchemy's, runs these.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",  # an accepted event survives power loss, not only a crash
    "PRAGMA busy_timeout=30000",
    # Checkpoints run in the background (Database.checkpoint_forever); the automatic one, which runs in
    # whichever commit crosses the threshold and holds the writer meanwhile, is only a safety net.
    "PRAGMA wal_autocheckpoint=20000",
    "PRAGMA foreign_keys=ON",
)


def configure(conn: sqlite3.Connection) -> None:
    for pragma in PRAGMAS:
        conn.execute(pragma)


class SqliteWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="herald-sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            configure(self._conn)
        return self._conn

    def _transaction(self, durable: bool, fn: Callable[..., T], *args: object) -> T:
        conn = self._connection()
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous=FULL")

    async def run(self, fn: Callable[..., T], *args: object, durable: bool = True) -> T:
        """Run `fn(connection, *args)` in one write transaction on the writer thread.

        `durable=False` commits without an fsync of its own; see Database.driver_transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, durable, fn, *args)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)
