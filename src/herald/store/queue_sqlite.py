"""The queue's hot path on SQLite: each function is one whole transaction's work, run on the writer thread
(`SqliteWriter.run`) with the stdlib driver; one writer, so no row locks are needed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from herald.domain.models import NewDelivery
from herald.store.enqueue import enqueue_sqlite
from herald.store.queue_rows import AttemptRow, DeliveryUpdate, Retry

CLAIM = """
UPDATE queue SET available_at = {available_at}, lease = lease + 1
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
          retention_time, manual, created_at, ordering_key
"""
CLAIM_ALL = CLAIM.format(available_at="?")

EVENTS = """
SELECT q.seq, e.type, e.timestamp, e.data, e.context FROM queue q
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

MARK_CANCELLED = """
UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL WHERE id = ?
"""


def claim(
    conn: sqlite3.Connection, now: float, limit: int, lease_until: float, held: Mapping[str, float]
) -> list[tuple[Any, ...]]:
    """Lease due rows and return them with their events, in the PostgreSQL claim's column order. A held
    subscription's rows get its time instead of the lease's and come back with no event (see the
    PostgreSQL claim)."""
    if held:  # a few subscriptions at most: a CASE over bound values, not a per-row lookup
        sql = CLAIM.format(available_at=f"CASE subscription_id {'WHEN ? THEN ? ' * len(held)}ELSE ? END")
        params = [v for pair in held.items() for v in pair]
        rows = conn.execute(sql, (*params, lease_until, now, limit)).fetchall()
    else:
        rows = conn.execute(CLAIM_ALL, (lease_until, now, limit)).fetchall()
    found: dict[int, tuple[Any, ...]] = {}
    seqs = [r[0] for r in rows if r[3] not in held]
    for start in range(0, len(seqs), CHUNK):
        chunk = seqs[start : start + CHUNK]
        for seq, *event in conn.execute(EVENTS.format(marks=",".join("?" * len(chunk))), chunk):
            found[seq] = tuple(event)
    # The event's context goes last, after the ordering key, as in the PostgreSQL claim.
    out = [(*r[:11], *found[r[0]][:3], r[11], found[r[0]][3]) for r in rows if r[0] in found]
    out += [(*r[:11], None, None, None, r[11], None) for r in rows if r[3] in held]
    return sorted(out, key=lambda r: r[0])


def delete_owned(conn: sqlite3.Connection, owned: Sequence[tuple[int, int]]) -> set[int]:
    deleted: set[int] = set()
    for start in range(0, len(owned), CHUNK):
        chunk = owned[start : start + CHUNK]
        sql = DELETE_OWNED.format(pairs=",".join("(?,?)" for _ in chunk))
        deleted.update(r[0] for r in conn.execute(sql, [v for pair in chunk for v in pair]))
    return deleted


def record(
    conn: sqlite3.Connection,
    finals: Sequence[tuple[int, int]],
    attempts: Sequence[AttemptRow],
    retries: Sequence[Retry],
    updates_for: Callable[[set[int]], Sequence[DeliveryUpdate]],
    then: Callable[[sqlite3.Connection, set[int]], None] | None = None,
) -> None:
    """Finish the rows still ours, log the attempts, reschedule retries, update the log rows; then `then`
    (endpoint health) in the same transaction."""
    owned = delete_owned(conn, finals)
    conn.executemany(INSERT_ATTEMPTS, attempts)
    if retries:
        conn.executemany(RESCHEDULE_OWNED, [(at, n, seq, lease) for seq, lease, at, n in retries])
    conn.executemany(
        UPDATE_DELIVERIES,
        [
            (t, code, kind, nxt, status, fin, id_)
            for id_, t, code, kind, nxt, status, fin in updates_for(owned)
        ],
    )
    if then is not None:
        then(conn, owned)


def cancel(
    conn: sqlite3.Connection,
    owned: Sequence[tuple[int, int]],
    delivery_of: dict[int, str],
    now: float,
    status: str = "cancelled",
    then: Callable[[sqlite3.Connection, set[int]], None] | None = None,
) -> None:
    """Delete the rows still ours and finish their deliveries with `status`; then `then` (with the rows
    that were ours) in the same transaction."""
    gone = delete_owned(conn, owned)
    conn.executemany(MARK_CANCELLED, [(status, now, delivery_of[seq]) for seq in gone])
    if then is not None:
        then(conn, gone)


def release_each(conn: sqlite3.Connection, rows: Sequence[tuple[int, int, float]]) -> None:
    """(seq, lease, available_at) rows: hand each back for its own time."""
    conn.executemany(RELEASE, [(at, seq, lease) for seq, lease, at in rows])


EXISTING_EVENTS = "SELECT id FROM events WHERE account_id = ? AND id IN ({marks})"

INSERT_EVENT = """
INSERT INTO events (account_id, id, type, timestamp, data, ordering_key, context, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""


def publish(
    conn: sqlite3.Connection,
    account_id: str,
    now: float,
    events: Sequence[tuple[str, str, float, str, str | None, str | None]],
    rows: Sequence[NewDelivery],
) -> tuple[set[str], int]:
    """Insert the (id, type, timestamp, data, ordering_key, context) events that are new, then the
    deliveries of those (publish order). Returns (new ids, deliveries)."""
    existing: set[str] = set()
    ids = [e[0] for e in events]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        sql = EXISTING_EVENTS.format(marks=",".join("?" * len(chunk)))
        existing.update(r[0] for r in conn.execute(sql, [account_id, *chunk]))
    new = [e for e in events if e[0] not in existing]
    conn.executemany(INSERT_EVENT, [(account_id, *e, now) for e in new])
    if existing:
        rows = [r for r in rows if r.event_id not in existing]
    enqueue_sqlite(conn, rows, now)
    return {e[0] for e in new}, len(rows)
