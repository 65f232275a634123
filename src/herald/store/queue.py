"""The delivery queue: claim due rows under a lease, then record what the attempts decided.

A claim bumps the row's `lease` token and pushes `available_at` to the lease expiry, so a worker that dies
simply lets its rows become due again. Recording only changes queue rows whose lease is still the one
claimed; the attempt itself is always logged, because it happened. The SQL lives per backend in
`queue_postgres` and `queue_sqlite`; this module turns rows into domain values and back.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import func, select

from herald.domain.health import HealthPolicy
from herald.domain.models import AttemptRecord, ClaimedDelivery, DeliveryStatus
from herald.ids import new_id
from herald.store import health, queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.queue_rows import AttemptRow, DeliveryUpdate, Retry
from herald.store.tables import queue

PENDING = DeliveryStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Claim:
    deliveries: list[ClaimedDelivery]
    held: Counter[str]  # per held subscription: its rows this claim handed straight back
    taken: int  # rows leased in all: a claim that took its whole limit means more is due


async def claim(db: Database, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    """Lease up to `limit` due rows, none held."""
    return (await claim_due(db, limit, lease_seconds)).deliveries


async def claim_due(
    db: Database, limit: int, lease_seconds: float, held: Mapping[str, float] | None = None
) -> Claim:
    """Lease up to `limit` due rows. `held` maps subscriptions whose endpoint can take no more now to when
    their rows should come back: their rows are handed straight back in the claim itself (no event read,
    no second write), so a saturated endpoint's backlog costs one row update per pass, not a round trip
    through the worker."""
    now = time.time()
    held = held or {}
    if db.is_sqlite:
        full = await db.sqlite_write(queue_sqlite.claim, now, limit, now + lease_seconds, held, durable=False)
    else:
        async with db.driver_transaction() as conn:
            full = [tuple(r) for r in await queue_postgres.claim(conn, now, limit, now + lease_seconds, held)]
    handed_back: Counter[str] = Counter(r[3] for r in full if r[3] in held) if held else Counter()
    deliveries = [
        ClaimedDelivery(
            seq=r[0],
            delivery_id=r[1],
            account_id=r[2],
            subscription_id=r[3],
            event_id=r[4],
            attempts=r[5],
            lease=r[6],
            max_retries=r[7],
            retention_time=r[8],
            manual=bool(r[9]),
            created_at=r[10],
            event_type=r[11],
            event_timestamp=r[12],
            event_data=r[13].encode(),
            ordering_key=r[14],
            event_context=r[15].encode() if r[15] is not None else None,
        )
        for r in full
        if r[11] is not None  # held, or (never expected) an event retention took
    ]
    return Claim(deliveries, handed_back, len(full))


async def record(db: Database, results: Sequence[AttemptRecord], policy: HealthPolicy | None = None) -> None:
    """One transaction for a batch of attempts: log them, then ack or reschedule their deliveries; with a
    health policy, also fold them into their endpoints' health (store/health.py) in the same transaction."""
    if not results:
        return
    attempt_rows: list[AttemptRow] = []
    retries: list[Retry] = []
    finals: list[tuple[int, int]] = []
    for r in results:
        c = r.claimed
        kind = r.error_kind.value if r.error_kind else None
        attempt_rows.append(
            (
                new_id("att"),
                c.delivery_id,
                c.account_id,
                c.attempts + 1,
                r.attempted_at,
                r.duration_ms,
                r.status_code,
                kind,
                r.error_message,
                r.response_body,
                orjson.dumps(r.request_headers).decode(),
            )
        )
        if r.next_attempt_at is not None and not r.succeeded:
            retries.append((c.seq, c.lease, r.next_attempt_at, c.attempts + 1))
        else:
            finals.append((c.seq, c.lease))
    if db.is_sqlite:
        await db.sqlite_write(
            queue_sqlite.record,
            finals,
            attempt_rows,
            retries,
            lambda owned: [_delivery_update(r, owned) for r in results],
            None if policy is None else lambda conn, owned: health.apply_sqlite(conn, results, owned, policy),
            durable=False,
        )
        return
    async with db.driver_transaction() as conn:
        if policy is not None:
            subs, changed, emits = await health.lock_and_update_pg(conn, results, policy)
        owned = await queue_postgres.delete_owned(conn, finals)
        updates = [_delivery_update(r, owned) for r in results]
        await queue_postgres.record(conn, attempt_rows, retries, updates)
        if policy is not None:
            await health.finish_pg(conn, subs, changed, emits + health.exhausted(subs, results, owned))


def _delivery_update(r: AttemptRecord, owned_finished: set[int]) -> DeliveryUpdate:
    status = r.final_status.value
    finished_at = None if status == PENDING else r.attempted_at
    if status == DeliveryStatus.DEAD.value and r.claimed.seq not in owned_finished:
        # Our lease was lost and another worker holds the delivery now: it is not dead while that one
        # may still deliver it. (A success, by contrast, is a fact and always counts.)
        status, finished_at = PENDING, None
    kind = r.error_kind.value if r.error_kind else None
    return (
        r.claimed.delivery_id,
        r.attempted_at,
        r.status_code,
        kind,
        r.next_attempt_at,
        status,
        finished_at,
    )


async def release(db: Database, claimed: Sequence[ClaimedDelivery], delay: float = 0.0) -> None:
    """Hand rows back without an attempt (shutdown, a disabled endpoint), all due after `delay`."""
    await defer(db, [(c, delay) for c in claimed])


async def defer(db: Database, held_back: Sequence[tuple[ClaimedDelivery, float]]) -> None:
    """Hand rows back, each due after its own delay, without an attempt (rate limit, circuit breaker,
    endpoint concurrency cap): one statement for the batch."""
    if not held_back:
        return
    now = time.time()
    rows = [(c.seq, c.lease, now + delay) for c, delay in held_back]
    if db.is_sqlite:
        await db.sqlite_write(queue_sqlite.release_each, rows, durable=False)
        return
    async with db.driver_transaction() as conn:
        await queue_postgres.release_each(conn, rows)


async def cancel(
    db: Database, claimed: Sequence[ClaimedDelivery], status: DeliveryStatus = DeliveryStatus.CANCELLED
) -> None:
    """Finish deliveries without an attempt: the queue row goes and the log row says `cancelled` (its
    subscription no longer exists) or `dead` (it expired while its endpoint was disabled: announced as
    `message.attempt.exhausted`), in one transaction (never a `pending` log row with nothing left to
    deliver it)."""
    if not claimed:
        return
    now = time.time()
    pairs = [(c.seq, c.lease) for c in claimed]
    delivery_of = {c.seq: c.delivery_id for c in claimed}
    dead = status is DeliveryStatus.DEAD
    if db.is_sqlite:

        def announce(conn: sqlite3.Connection, owned: set[int]) -> None:
            health.announce_expired_sqlite(conn, claimed, owned)

        await db.sqlite_write(
            queue_sqlite.cancel, pairs, delivery_of, now, status.value, announce if dead else None
        )
        return
    async with db.driver_transaction() as conn:
        owned = await queue_postgres.delete_owned(conn, pairs)
        await queue_postgres.mark_cancelled(conn, [delivery_of[seq] for seq in owned], now, status.value)
        if dead:
            await health.announce_expired_pg(conn, claimed, owned)


async def depth(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(queue)) or 0)
