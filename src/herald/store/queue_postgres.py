"""The queue's hot path on PostgreSQL: raw asyncpg, one round trip per statement, arrays via unnest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from herald.domain.models import NewDelivery
from herald.store.enqueue import enqueue_pg
from herald.store.queue_rows import AttemptRow, DeliveryUpdate, Retry

# Claim due rows (for ordered rows: only the head of their key), lease them, and return them joined
# with their events, in one statement. Rows of a held subscription ($4, with its time in $5: its endpoint
# cannot take more now) are leased and handed straight back for that time: they come back as rows with no
# event, and no second statement has to touch them. The columns are queue_rows.CLAIM_COLUMNS.
CLAIM = """
WITH picked AS (
    SELECT q.seq FROM queue q
    WHERE q.available_at <= $1
      AND (q.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM queue b
            WHERE b.subscription_id = q.subscription_id AND b.ordering_key = q.ordering_key
              AND b.seq < q.seq))
    ORDER BY q.available_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE queue q
    SET available_at = coalesce(($5::float8[])[array_position($4::text[], q.subscription_id)], $3),
        lease = q.lease + 1
    FROM picked WHERE q.seq = picked.seq
    RETURNING q.seq, q.delivery_id, q.account_id, q.subscription_id, q.event_id, q.attempts, q.lease,
              q.max_retries, q.retention_time, q.manual, q.created_at, q.ordering_key
)
SELECT c.seq, c.delivery_id, c.account_id, c.subscription_id, c.event_id, c.attempts, c.lease,
       c.max_retries, c.retention_time, c.manual, c.created_at, c.ordering_key,
       e.type AS event_type, e.timestamp AS event_timestamp, e.data AS event_data,
       e.context AS event_context
FROM claimed c LEFT JOIN events e
    ON e.account_id = c.account_id AND e.id = c.event_id
   AND array_position($4::text[], c.subscription_id) IS NULL
ORDER BY c.seq
"""

INSERT_ATTEMPTS = """
INSERT INTO attempts (id, delivery_id, account_id, attempt, attempted_at, duration_ms, status_code,
                      error_kind, error_message, response_body, request_headers)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[], $7::int[],
                     $8::text[], $9::text[], $10::text[], $11::text[])
"""

DELETE_OWNED = """
DELETE FROM queue q USING unnest($1::bigint[], $2::int[]) AS x(seq, lease)
WHERE q.seq = x.seq AND q.lease = x.lease
RETURNING q.seq
"""

RESCHEDULE_OWNED = """
UPDATE queue q SET available_at = x.at, attempts = x.attempts
FROM unnest($1::bigint[], $2::int[], $3::float8[], $4::int[]) AS x(seq, lease, at, attempts)
WHERE q.seq = x.seq AND q.lease = x.lease
"""

# Status moves only out of `pending`, except that a success always wins.
UPDATE_DELIVERIES = """
UPDATE deliveries d SET
    attempts = d.attempts + 1,
    last_attempt_at = x.attempted_at,
    last_status_code = x.status_code,
    last_error_kind = x.error_kind,
    next_attempt_at = CASE WHEN d.status = 'pending' OR x.status = 'delivered'
                           THEN x.next_at ELSE d.next_attempt_at END,
    finished_at = CASE WHEN d.status = 'pending' OR x.status = 'delivered'
                       THEN x.finished_at ELSE d.finished_at END,
    status = CASE WHEN d.status = 'pending' OR x.status = 'delivered' THEN x.status ELSE d.status END
FROM unnest($1::text[], $2::float8[], $3::int[], $4::text[], $5::float8[], $6::text[], $7::float8[])
    AS x(id, attempted_at, status_code, error_kind, next_at, status, finished_at)
WHERE d.id = x.id
"""

MARK_CANCELLED = """
UPDATE deliveries SET status = $3, finished_at = $2, next_attempt_at = NULL
WHERE id = ANY($1::text[])
"""

RELEASE_EACH = """
UPDATE queue q SET available_at = x.at
FROM unnest($1::bigint[], $2::int[], $3::float8[]) AS x(seq, lease, at)
WHERE q.seq = x.seq AND q.lease = x.lease
"""


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def claim(
    pg: asyncpg.Connection, now: float, limit: int, lease_until: float, held: Mapping[str, float]
) -> list[asyncpg.Record]:
    """Due rows; a held subscription's rows come back with no event (event_type NULL)."""
    return list(await pg.fetch(CLAIM, now, limit, lease_until, list(held), list(held.values())))


async def delete_owned(pg: asyncpg.Connection, owned: Sequence[tuple[int, int]]) -> set[int]:
    if not owned:
        return set()
    return {r[0] for r in await pg.fetch(DELETE_OWNED, *_columns(owned, 2))}


async def record(
    pg: asyncpg.Connection,
    attempts: Sequence[AttemptRow],
    retries: Sequence[Retry],
    updates: Sequence[DeliveryUpdate],
) -> None:
    await pg.execute(INSERT_ATTEMPTS, *_columns(attempts, 11))
    if retries:
        await pg.execute(RESCHEDULE_OWNED, *_columns(retries, 4))
    await pg.execute(UPDATE_DELIVERIES, *_columns(updates, 7))


async def mark_cancelled(
    pg: asyncpg.Connection, delivery_ids: Sequence[str], now: float, status: str = "cancelled"
) -> None:
    if delivery_ids:
        await pg.execute(MARK_CANCELLED, list(delivery_ids), now, status)


async def release_each(pg: asyncpg.Connection, rows: Sequence[tuple[int, int, float]]) -> None:
    await pg.execute(RELEASE_EACH, *_columns(rows, 3))


INSERT_EVENTS = """
INSERT INTO events (account_id, id, type, timestamp, data, ordering_key, context, created_at)
SELECT $1, x.id, x.type, x.ts, x.data, x.okey, x.ctx, $2
FROM unnest($3::text[], $4::text[], $5::float8[], $6::text[], $7::text[], $8::text[])
    AS x(id, type, ts, data, okey, ctx)
ON CONFLICT (account_id, id) DO NOTHING
RETURNING id
"""


async def insert_events(
    pg: asyncpg.Connection,
    account_id: str,
    now: float,
    events: Sequence[tuple[str, str, float, str, str | None, str | None]],
) -> set[str]:
    """Insert (id, type, timestamp, data, ordering_key, context) rows; returns the ids that were new."""
    rows = await pg.fetch(INSERT_EVENTS, account_id, now, *_columns(events, 6))
    return {r[0] for r in rows}


async def publish(
    pg: asyncpg.Connection,
    account_id: str,
    now: float,
    events: Sequence[tuple[str, str, float, str, str | None, str | None]],
    rows: Sequence[NewDelivery],
) -> tuple[set[str], int]:
    """Insert the events that are new, then the deliveries of those (publish order). Returns (new ids,
    deliveries)."""
    inserted = await insert_events(pg, account_id, now, events)
    if len(inserted) < len(events):
        rows = [r for r in rows if r.event_id in inserted]
    await enqueue_pg(pg, rows, now)
    return inserted, len(rows)
