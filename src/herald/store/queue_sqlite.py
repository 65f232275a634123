"""The queue's hot path on SQLite: raw sqlite statements on the writer connection (one writer, so no
row locks are needed), batches through executemany."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from herald.store.queue_rows import AttemptRow, DeliveryUpdate, Retry

CLAIM = """
UPDATE queue SET available_at = ?, lease = lease + 1
WHERE seq IN (
    SELECT q.seq FROM queue q
    WHERE q.available_at <= ?
      AND (q.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM queue b
            WHERE b.subscription_id = q.subscription_id AND b.ordering_key = q.ordering_key
              AND b.seq < q.seq))
    ORDER BY q.available_at
    LIMIT ?)
RETURNING seq, delivery_id, account_id, subscription_id, event_id, attempts, lease, max_retries,
          retention_time, manual, created_at
"""

EVENTS = """
SELECT q.seq, e.type, e.timestamp, e.data FROM queue q
JOIN events e ON e.account_id = q.account_id AND e.id = q.event_id
WHERE q.seq IN ({marks})
"""
# Row values in one statement: each aiosqlite call is a hop to its thread, so batch, never loop.
CHUNK = 5000

INSERT_ATTEMPTS = """
INSERT INTO attempts (id, delivery_id, account_id, attempt, attempted_at, duration_ms, status_code,
                      error_kind, error_message, response_body, request_headers)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

DELETE_OWNED = "DELETE FROM queue WHERE (seq, lease) IN (VALUES {pairs}) RETURNING seq"

RESCHEDULE_OWNED = "UPDATE queue SET available_at = ?, attempts = ? WHERE seq = ? AND lease = ?"

UPDATE_DELIVERIES = """
UPDATE deliveries SET
    attempts = attempts + 1,
    last_attempt_at = ?1,
    last_status_code = ?2,
    last_error_kind = ?3,
    next_attempt_at = CASE WHEN status = 'pending' OR ?5 = 'delivered' THEN ?4 ELSE next_attempt_at END,
    finished_at = CASE WHEN status = 'pending' OR ?5 = 'delivered' THEN ?6 ELSE finished_at END,
    status = CASE WHEN status = 'pending' OR ?5 = 'delivered' THEN ?5 ELSE status END
WHERE id = ?7
"""

RELEASE = "UPDATE queue SET available_at = ? WHERE seq = ? AND lease = ?"


async def claim(conn: Any, now: float, limit: int, lease_until: float) -> list[tuple[Any, ...]]:
    return list(await conn.execute_fetchall(CLAIM, (lease_until, now, limit)))


async def events_for(conn: Any, seqs: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """(type, timestamp, data) of each claimed row's event, by queue seq."""
    found: dict[int, tuple[Any, ...]] = {}
    for start in range(0, len(seqs), CHUNK):
        chunk = seqs[start : start + CHUNK]
        sql = EVENTS.format(marks=",".join("?" * len(chunk)))
        for seq, *event in await conn.execute_fetchall(sql, chunk):
            found[seq] = tuple(event)
    return found


async def delete_owned(conn: Any, owned: Sequence[tuple[int, int]]) -> set[int]:
    deleted: set[int] = set()
    for start in range(0, len(owned), CHUNK):
        chunk = owned[start : start + CHUNK]
        sql = DELETE_OWNED.format(pairs=",".join("(?,?)" for _ in chunk))
        deleted.update(r[0] for r in await conn.execute_fetchall(sql, [v for pair in chunk for v in pair]))
    return deleted


async def record(
    conn: Any, attempts: Sequence[AttemptRow], retries: Sequence[Retry], updates: Sequence[DeliveryUpdate]
) -> None:
    await conn.executemany(INSERT_ATTEMPTS, attempts)
    if retries:
        await conn.executemany(RESCHEDULE_OWNED, [(at, n, seq, lease) for seq, lease, at, n in retries])
    await conn.executemany(
        UPDATE_DELIVERIES,
        [(t, code, kind, nxt, status, fin, id_) for id_, t, code, kind, nxt, status, fin in updates],
    )


async def release(conn: Any, owned: Sequence[tuple[int, int]], at: float) -> None:
    await conn.executemany(RELEASE, [(at, seq, lease) for seq, lease in owned])


EXISTING_EVENTS = "SELECT id FROM events WHERE account_id = ? AND id IN ({marks})"

INSERT_EVENT = """
INSERT INTO events (account_id, id, type, timestamp, data, ordering_key, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

INSERT_DELIVERY = """
INSERT INTO deliveries (id, account_id, event_id, event_type, subscription_id, status, attempts, created_at,
                        next_attempt_at)
VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)
"""

INSERT_QUEUE = """
INSERT INTO queue (delivery_id, account_id, event_id, subscription_id, ordering_key, available_at, attempts,
                   lease, max_retries, retention_time, manual, created_at)
VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, 0, ?)
"""


async def insert_events(
    conn: Any, account_id: str, now: float, events: Sequence[tuple[str, str, float, str, str | None]]
) -> set[str]:
    """Insert (id, type, timestamp, data, ordering_key) rows; returns the ids that were new. The writer
    lock is held, so checking first and then inserting cannot race."""
    existing: set[str] = set()
    ids = [e[0] for e in events]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        sql = EXISTING_EVENTS.format(marks=",".join("?" * len(chunk)))
        existing.update(r[0] for r in await conn.execute_fetchall(sql, [account_id, *chunk]))
    new = [e for e in events if e[0] not in existing]
    await conn.executemany(INSERT_EVENT, [(account_id, *e, now) for e in new])
    return {e[0] for e in new}


async def enqueue(
    conn: Any,
    account_id: str,
    now: float,
    rows: Sequence[tuple[str, str, str, str, str | None, int | None, int | None]],
) -> None:
    """Deliveries and queue rows from (delivery_id, event_id, event_type, subscription_id, ordering_key,
    max_retries, retention_time), queued in the order given (publish order)."""
    await conn.executemany(
        INSERT_DELIVERY, [(d, account_id, e, t, s, now, now) for d, e, t, s, _, _, _ in rows]
    )
    await conn.executemany(
        INSERT_QUEUE, [(d, account_id, e, s, k, now, mr, rt, now) for d, e, _, s, k, mr, rt in rows]
    )
