"""The delivery queue: claim due rows under a lease, then record what the attempts decided.

A claim bumps the row's `lease` token and pushes `available_at` to the lease expiry, so a worker that dies
simply lets its rows become due again. Recording only changes queue rows whose lease is still the one
claimed; the attempt itself is always logged, because it happened. The SQL lives per backend in
`queue_postgres` and `queue_sqlite`; this module turns rows into domain values and back.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select

from herald.domain.health import HealthPolicy
from herald.domain.models import AttemptRecord, ClaimedDelivery, DeliveryStatus
from herald.ids import new_id
from herald.store import health, queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.queue_rows import AttemptRow, Retry, delivery_update
from herald.store.tables import queue


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
    full: Sequence[Any]  # sqlite3.Row / asyncpg Record, read by CLAIM_COLUMNS name
    if db.is_sqlite:
        full = await db.sqlite_write(queue_sqlite.claim, now, limit, now + lease_seconds, held, durable=False)
    else:
        async with db.driver_transaction() as conn:
            full = await queue_postgres.claim(conn, now, limit, now + lease_seconds, held)
    handed_back: Counter[str] = (
        Counter(r["subscription_id"] for r in full if r["subscription_id"] in held) if held else Counter()
    )
    deliveries = [
        ClaimedDelivery(
            seq=r["seq"],
            delivery_id=r["delivery_id"],
            account_id=r["account_id"],
            subscription_id=r["subscription_id"],
            event_id=r["event_id"],
            attempts=r["attempts"],
            lease=r["lease"],
            max_retries=r["max_retries"],
            retention_time=r["retention_time"],
            manual=bool(r["manual"]),
            created_at=r["created_at"],
            event_type=r["event_type"],
            event_timestamp=r["event_timestamp"],
            event_data=r["event_data"].encode(),
            ordering_key=r["ordering_key"],
            event_context=r["event_context"].encode() if r["event_context"] is not None else None,
        )
        for r in full
        if r["event_type"] is not None  # held, or (never expected) an event retention took
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
            AttemptRow(
                id=new_id("att"),
                delivery_id=c.delivery_id,
                account_id=c.account_id,
                attempt=c.attempts + 1,
                attempted_at=r.attempted_at,
                duration_ms=r.duration_ms,
                status_code=r.status_code,
                error_kind=kind,
                error_message=r.error_message,
                response_body=r.response_body,
                request_headers=orjson.dumps(r.request_headers).decode(),
            )
        )
        if r.next_attempt_at is not None and not r.succeeded:
            retries.append(Retry(c.seq, c.lease, r.next_attempt_at, c.attempts + 1))
        else:
            finals.append((c.seq, c.lease))
    if db.is_sqlite:
        await db.sqlite_write(
            queue_sqlite.record,
            finals,
            attempt_rows,
            retries,
            results,
            policy,
            durable=False,
        )
        return
    async with db.driver_transaction() as conn:
        if policy is not None:
            subs, changed, emits = await health.lock_and_update_pg(conn, results, policy)
        owned = await queue_postgres.delete_owned(conn, finals)
        updates = [delivery_update(r, owned) for r in results]
        await queue_postgres.record(conn, attempt_rows, retries, updates)
        if policy is not None:
            await health.finish_pg(conn, subs, changed, emits + health.exhausted(subs, results, owned))


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
        await db.sqlite_write(
            queue_sqlite.cancel, pairs, delivery_of, now, status.value, claimed if dead else ()
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
