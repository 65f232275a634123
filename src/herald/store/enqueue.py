"""Create deliveries and queue them: the one write of a `NewDelivery`, whatever made it (publish, replay,
operational events); and `requeue`, the one way an existing delivery is queued again (resend, recover).
Each new delivery is a `pending` log row plus its queue row, inserted in the order given, so `queue.seq`
keeps that order (ordered subscriptions, TTL conversations).

One row shape, three connections: the SQLite writer thread's `sqlite3` connection and asyncpg's raw
connection (the hot paths: publish, the recorder), and a SQLAlchemy connection (jobs, configuration).
The SQLite statements bind a `NewDelivery` by its field numbers (?1 = id, … ?10 = replay_of, ?11 = now).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.models import NewDelivery
from herald.store.tables import deliveries, queue

SQLITE_DELIVERY = """
INSERT INTO deliveries (id, account_id, event_id, event_type, subscription_id, replay_of, status, attempts,
                        created_at, next_attempt_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?10, 'pending', 0, ?11, ?11)
"""
SQLITE_QUEUE = """
INSERT INTO queue (delivery_id, account_id, event_id, subscription_id, ordering_key, max_retries,
                   retention_time, available_at, attempts, lease, manual, created_at)
VALUES (?1, ?2, ?3, ?5, ?6, ?7, ?8, ?9, 0, 0, 0, ?11)
"""
PG_DELIVERY = """
INSERT INTO deliveries (id, account_id, event_id, event_type, subscription_id, replay_of, status, attempts,
                        created_at, next_attempt_at)
SELECT x.id, x.account_id, x.event_id, x.event_type, x.sub, x.replay_of, 'pending', 0, $1, $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    AS x(id, account_id, event_id, event_type, sub, replay_of)
"""
PG_QUEUE = """
INSERT INTO queue (delivery_id, account_id, event_id, subscription_id, ordering_key, max_retries,
                   retention_time, available_at, attempts, lease, manual, created_at)
SELECT x.id, x.account_id, x.event_id, x.sub, x.okey, x.max_retries, x.retention, x.due, 0, 0, false, $1
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::float8[])
    WITH ORDINALITY AS x(id, account_id, event_id, sub, okey, max_retries, retention, due, ord)
ORDER BY x.ord
"""


def enqueue_sqlite(conn: sqlite3.Connection, rows: Sequence[NewDelivery], now: float) -> None:
    """On the SQLite writer thread, inside its transaction."""
    bound = [(*r, now) for r in rows]
    conn.executemany(SQLITE_DELIVERY, bound)
    conn.executemany(SQLITE_QUEUE, bound)


async def enqueue_pg(pg: Any, rows: Sequence[NewDelivery], now: float) -> None:
    """On a raw asyncpg connection, inside its transaction: two statements whatever the count."""
    if not rows:
        return
    ids, accounts, events, types, subs, keys, retries, retention, due, replay_of = (
        list(c) for c in zip(*rows, strict=True)
    )
    await pg.execute(PG_DELIVERY, now, ids, accounts, events, types, subs, replay_of)
    await pg.execute(PG_QUEUE, now, ids, accounts, events, subs, keys, retries, retention, due)


async def enqueue(
    conn: AsyncConnection, rows: Sequence[NewDelivery], now: float, *, manual: bool = False
) -> None:
    """On a SQLAlchemy connection (either backend), inside its transaction. executemany runs the rows in
    order, so `seq` keeps their order. `manual`: each is tried once and not retried (a resend of a
    delivery that is still waiting for its retry)."""
    if not rows:
        return
    fixed = {"status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now}
    await conn.execute(
        deliveries.insert(),
        [
            {"id": r.id, "account_id": r.account_id, "event_id": r.event_id, "event_type": r.event_type,
             "subscription_id": r.subscription_id, "replay_of": r.replay_of, **fixed}
            for r in rows
        ],
    )  # fmt: skip
    await conn.execute(
        queue.insert(),
        [
            {"delivery_id": r.id, "account_id": r.account_id, "event_id": r.event_id,
             "subscription_id": r.subscription_id, "ordering_key": r.ordering_key,
             "max_retries": r.max_retries, "retention_time": r.retention_time,
             "available_at": r.available_at, "attempts": 0, "lease": 0, "manual": manual, "created_at": now}
            for r in rows
        ],
    )  # fmt: skip


class Requeue(NamedTuple):
    """An existing delivery queued for one more, manual attempt (resend, recover): now, tried once,
    not retried, not ordered; it continues the delivery's attempt count."""

    delivery_id: str
    account_id: str
    event_id: str
    subscription_id: str
    attempts: int


async def requeue(conn: AsyncConnection, rows: Sequence[Requeue], now: float) -> set[str]:
    """Queue the deliveries that are not queued already (a delivery is never queued twice); returns
    those it queued. Both backends spell `ON CONFLICT DO NOTHING` alike; SQLAlchemy needs the dialect's
    own insert construct to say it."""
    if not rows:
        return set()
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    manual = {"ordering_key": None, "available_at": now, "lease": 0, "max_retries": None}
    manual |= {"retention_time": None, "manual": True, "created_at": now}
    stmt = (
        insert(queue)
        .values([{**r._asdict(), **manual} for r in rows])
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(queue.c.delivery_id)
    )
    return {r[0] for r in await conn.execute(stmt)}
