"""The queue's hot path on SQLite: each function is one whole transaction's work, run on the writer thread
(`SqliteWriter.run`) with the stdlib driver; one writer, so no row locks are needed. A function composes
its transaction straight through (as the PostgreSQL path does): it calls the SQLite halves of endpoint
health and enqueue itself, and takes no callbacks."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from herald.domain.health import HealthPolicy
from herald.domain.models import AttemptRecord, ClaimedDelivery, NewDelivery
from herald.store import health
from herald.store.enqueue import enqueue_sqlite
from herald.store.queue_rows import AttemptRow, Retry, delivery_update

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
RETURNING seq
"""
CLAIM_ALL = CLAIM.format(available_at="?")

# The claimed rows with their events, in CLAIM_COLUMNS (as the PostgreSQL claim returns them); a held
# subscription's rows without their event.
CLAIMED = """
SELECT q.seq, q.delivery_id, q.account_id, q.subscription_id, q.event_id, q.attempts, q.lease, q.max_retries,
       q.retention_time, q.manual, q.created_at, q.ordering_key,
       e.type AS event_type, e.timestamp AS event_timestamp, e.data AS event_data, e.context AS event_context
FROM queue q LEFT JOIN events e
    ON e.account_id = q.account_id AND e.id = q.event_id AND q.subscription_id NOT IN ({held})
WHERE q.seq IN ({marks})
ORDER BY q.seq
"""
# Row values in one statement: each aiosqlite call is a hop to its thread, so batch, never loop.
CHUNK = 5000

INSERT_ATTEMPTS = """
INSERT INTO attempts (id, delivery_id, account_id, attempt, attempted_at, duration_ms, status_code,
                      error_kind, error_message, response_body, request_headers)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

DELETE_OWNED = "DELETE FROM queue WHERE (seq, lease) IN (VALUES {pairs}) RETURNING seq"

# Bound as a Retry: ?1 seq, ?2 lease, ?3 available_at, ?4 attempts.
RESCHEDULE_OWNED = "UPDATE queue SET available_at = ?3, attempts = ?4 WHERE seq = ?1 AND lease = ?2"

# Bound as a DeliveryUpdate: ?1 delivery_id, ?2 attempted_at, ?3 status_code, ?4 error_kind,
# ?5 next_attempt_at, ?6 status, ?7 finished_at.
UPDATE_DELIVERIES = """
UPDATE deliveries SET
    attempts = attempts + 1,
    last_attempt_at = ?2,
    last_status_code = ?3,
    last_error_kind = ?4,
    next_attempt_at = CASE WHEN status = 'pending' OR ?6 = 'delivered' THEN ?5 ELSE next_attempt_at END,
    finished_at = CASE WHEN status = 'pending' OR ?6 = 'delivered' THEN ?7 ELSE finished_at END,
    status = CASE WHEN status = 'pending' OR ?6 = 'delivered' THEN ?6 ELSE status END
WHERE id = ?1
"""

RELEASE = "UPDATE queue SET available_at = ? WHERE seq = ? AND lease = ?"

MARK_CANCELLED = """
UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL WHERE id = ?
"""


def claim(
    conn: sqlite3.Connection, now: float, limit: int, lease_until: float, held: Mapping[str, float]
) -> list[sqlite3.Row]:
    """Lease due rows and return them with their events, by CLAIM_COLUMNS name. A held subscription's
    rows get its time instead of the lease's and come back with no event (see the PostgreSQL claim)."""
    if held:  # a few subscriptions at most: a CASE over bound values, not a per-row lookup
        sql = CLAIM.format(available_at=f"CASE subscription_id {'WHEN ? THEN ? ' * len(held)}ELSE ? END")
        params = [v for pair in held.items() for v in pair]
        seqs = conn.execute(sql, (*params, lease_until, now, limit)).fetchall()
    else:
        seqs = conn.execute(CLAIM_ALL, (lease_until, now, limit)).fetchall()
    claimed = sorted(r[0] for r in seqs)
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    out: list[sqlite3.Row] = []
    for start in range(0, len(claimed), CHUNK):
        chunk = claimed[start : start + CHUNK]
        sql = CLAIMED.format(held=",".join("?" * len(held)), marks=",".join("?" * len(chunk)))
        out += cur.execute(sql, [*held, *chunk]).fetchall()
    return out


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
    results: Sequence[AttemptRecord],
    policy: HealthPolicy | None,
) -> None:
    """Finish the rows still ours, log the attempts, reschedule retries, update the log rows; with a
    health policy, fold the outcomes into endpoint health, all in this one transaction."""
    owned = delete_owned(conn, finals)
    conn.executemany(INSERT_ATTEMPTS, attempts)
    if retries:
        conn.executemany(RESCHEDULE_OWNED, retries)
    conn.executemany(UPDATE_DELIVERIES, [delivery_update(r, owned) for r in results])
    if policy is not None:
        health.apply_sqlite(conn, results, owned, policy)


def cancel(
    conn: sqlite3.Connection,
    owned: Sequence[tuple[int, int]],
    delivery_of: dict[int, str],
    now: float,
    status: str,
    expired: Sequence[ClaimedDelivery],
) -> None:
    """Delete the rows still ours and finish their deliveries with `status`; announce those of `expired`
    that were ours (dead: their time to live ran out), in the same transaction."""
    gone = delete_owned(conn, owned)
    conn.executemany(MARK_CANCELLED, [(status, now, delivery_of[seq]) for seq in gone])
    if expired:
        health.announce_expired_sqlite(conn, expired, gone)


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
