"""What the recovery/retention indexes (`ix_events_created`, `ix_deliveries_created`) cost publish.

    python bench/recovery_indexes.py sqlite
    python bench/recovery_indexes.py postgresql [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

Two fresh databases, one with the indexes dropped, two subscriptions each; 40 publishes of 500 events
alternate between them (in turn, so load on the machine hits both alike) through `store.publish`, and the
total time of each is printed. Throw-away SQLite files / PostgreSQL databases are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text

from herald.store.database import Database
from herald.store.migrate import upgrade
from herald.store.publish import NewEvent, publish
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, create_subscription

ROUNDS, BATCH = 40, 500
SUBSCRIPTION = {
    "url": "https://example.com/h",
    "event_types": ["*"],
    "name": None,
    "description": None,
    "profile": "standard",
    "ordered": False,
    "max_retries": None,
}


async def _database(url: str, *, drop_indexes: bool) -> Database:
    db = Database(url)
    await upgrade(db)
    if drop_indexes:
        async with db.write() as conn:
            await conn.execute(text("DROP INDEX ix_events_created"))
            await conn.execute(text("DROP INDEX ix_deliveries_created"))
    box = SecretBox([SecretBox.generate_key()])
    for _ in range(2):
        await create_subscription(db, box, Owner(account_id="a1"), dict(SUBSCRIPTION))
    return db


async def _pg(admin_url: str, names: list[str], create: bool) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def run(backend: str, pg_url: str) -> None:
    names = ["herald_bench_idx_with", "herald_bench_idx_without"]
    tmp = tempfile.TemporaryDirectory()
    if backend == "sqlite":
        urls = [f"sqlite:///{Path(tmp.name) / name}.db" for name in names]
    else:
        await _pg(pg_url, names, create=True)
        urls = [f"{pg_url.rpartition('/')[0]}/{name}" for name in names]
    dbs = {
        "with": await _database(urls[0], drop_indexes=False),
        "without": await _database(urls[1], drop_indexes=True),
    }
    spent = dict.fromkeys(dbs, 0.0)
    data = '{"pad":"' + "x" * 256 + '"}'
    try:
        for r in range(ROUNDS):
            order = ["with", "without"] if r % 2 else ["without", "with"]
            for name in order:
                batch = [NewEvent(f"e{r}-{i}", "t", 1.0, data) for i in range(BATCH)]
                start = time.perf_counter()
                await publish(dbs[name], "a1", batch)
                spent[name] += time.perf_counter() - start
    finally:
        for db in dbs.values():
            await db.dispose()
        if backend == "postgresql":
            await _pg(pg_url, names, create=False)
        tmp.cleanup()
    events = ROUNDS * BATCH
    for name, seconds in spent.items():
        print(
            f"{backend}, {name} the indexes: {events:,} events ({2 * events:,} deliveries) "
            f"in {seconds:.2f} s = {events / seconds:,.0f} events/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    asyncio.run(run(args.backend, args.pg_url))


if __name__ == "__main__":
    main()
