"""The delivery queue: claim due rows under a lease, then record what the attempts decided.

A claim bumps the row's `lease` token and pushes `available_at` to the lease expiry, so a worker that dies
simply lets its rows become due again. Recording only changes queue rows whose lease is still the one
claimed; the attempt itself is always logged, because it happened.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from sqlalchemy import bindparam, case, delete, exists, func, insert, or_, select, tuple_, update

from herald.domain.models import AttemptRecord, ClaimedDelivery, DeliveryStatus
from herald.ids import new_id
from herald.store.database import Database
from herald.store.tables import attempts, deliveries, events, queue

_blocker = queue.alias("blocker")
# An ordered row may go only when no earlier row of its subscription and ordering key is still queued.
_ORDER_HEAD = or_(
    queue.c.ordering_key.is_(None),
    ~exists().where(
        _blocker.c.subscription_id == queue.c.subscription_id,
        _blocker.c.ordering_key == queue.c.ordering_key,
        _blocker.c.seq < queue.c.seq,
    ),
)


async def claim(db: Database, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    now = time.time()
    due = (
        select(queue.c.seq)
        .where(queue.c.available_at <= now, _ORDER_HEAD)
        .order_by(queue.c.available_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer lock already serialises claims
    )
    stmt = (
        update(queue)
        .where(queue.c.seq.in_(due.scalar_subquery()))
        .values(available_at=now + lease_seconds, lease=queue.c.lease + 1)
        .returning(
            queue.c.seq,
            queue.c.delivery_id,
            queue.c.account_id,
            queue.c.subscription_id,
            queue.c.event_id,
            queue.c.attempts,
            queue.c.lease,
            queue.c.max_retries,
            queue.c.retention_time,
            queue.c.manual,
            queue.c.created_at,
        )
    )
    async with db.write() as conn:
        rows = (await conn.execute(stmt)).all()
    if not rows:
        return []
    keys = {(r.account_id, r.event_id) for r in rows}
    async with db.read() as conn:
        found = {
            (e.account_id, e.id): e
            for e in await conn.execute(
                select(
                    events.c.account_id, events.c.id, events.c.type, events.c.timestamp, events.c.data
                ).where(tuple_(events.c.account_id, events.c.id).in_(list(keys)))
            )
        }
    claimed = []
    for r in sorted(rows, key=lambda r: r.seq):
        ev = found[(r.account_id, r.event_id)]
        claimed.append(
            ClaimedDelivery(
                seq=r.seq,
                delivery_id=r.delivery_id,
                account_id=r.account_id,
                subscription_id=r.subscription_id,
                event_id=r.event_id,
                event_type=ev.type,
                event_timestamp=ev.timestamp,
                event_data=ev.data.encode(),
                attempts=r.attempts,
                lease=r.lease,
                max_retries=r.max_retries,
                retention_time=r.retention_time,
                manual=r.manual,
                created_at=r.created_at,
            )
        )
    return claimed


_delete_leased = delete(queue).where(queue.c.seq == bindparam("b_seq"), queue.c.lease == bindparam("b_lease"))
_reschedule_leased = (
    update(queue)
    .where(queue.c.seq == bindparam("b_seq"), queue.c.lease == bindparam("b_lease"))
    .values(available_at=bindparam("b_at"), attempts=bindparam("b_attempts"))
)
# Status moves only out of `pending`, except that a success always wins (a stale worker's late failure
# must not bury a delivery another worker completed).
_update_delivery = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        attempts=deliveries.c.attempts + 1,
        last_attempt_at=bindparam("b_attempted_at"),
        last_status_code=bindparam("b_status_code"),
        last_error_kind=bindparam("b_error_kind"),
        next_attempt_at=bindparam("b_next"),
        status=case(
            (
                or_(
                    deliveries.c.status == DeliveryStatus.PENDING.value, bindparam("b_status") == "delivered"
                ),
                bindparam("b_status"),
            ),
            else_=deliveries.c.status,
        ),
        finished_at=bindparam("b_finished_at"),
    )
)


async def record(db: Database, results: Sequence[AttemptRecord]) -> None:
    """One transaction for a batch of attempts: log them, then ack or reschedule their deliveries."""
    if not results:
        return
    attempt_rows = []
    finished = []
    retrying = []
    delivery_rows = []
    for r in results:
        c = r.claimed
        attempt_rows.append(
            {
                "id": new_id("att"),
                "delivery_id": c.delivery_id,
                "account_id": c.account_id,
                "attempt": c.attempts + 1,
                "attempted_at": r.attempted_at,
                "duration_ms": r.duration_ms,
                "status_code": r.status_code,
                "error_kind": r.error_kind.value if r.error_kind else None,
                "error_message": r.error_message,
                "response_body": r.response_body,
                "request_headers": orjson.dumps(r.request_headers).decode(),
            }
        )
        status = r.final_status
        if status is DeliveryStatus.PENDING:
            retrying.append(
                {"b_seq": c.seq, "b_lease": c.lease, "b_at": r.next_attempt_at, "b_attempts": c.attempts + 1}
            )
        else:
            finished.append({"b_seq": c.seq, "b_lease": c.lease})
        delivery_rows.append(
            {
                "b_id": c.delivery_id,
                "b_attempted_at": r.attempted_at,
                "b_status_code": r.status_code,
                "b_error_kind": r.error_kind.value if r.error_kind else None,
                "b_next": r.next_attempt_at,
                "b_status": status.value,
                "b_finished_at": None if status is DeliveryStatus.PENDING else r.attempted_at,
            }
        )
    async with db.write() as conn:
        await conn.execute(insert(attempts), attempt_rows)
        if finished:
            await conn.execute(_delete_leased, finished)
        if retrying:
            await conn.execute(_reschedule_leased, retrying)
        await conn.execute(_update_delivery, delivery_rows)


async def release(db: Database, claimed: Sequence[ClaimedDelivery], delay: float = 0.0) -> None:
    """Hand rows back without an attempt (shutdown, a busy or disabled endpoint)."""
    if not claimed:
        return
    at = time.time() + delay
    async with db.write() as conn:
        await conn.execute(
            update(queue)
            .where(queue.c.seq == bindparam("b_seq"), queue.c.lease == bindparam("b_lease"))
            .values(available_at=at),
            [{"b_seq": c.seq, "b_lease": c.lease} for c in claimed],
        )


async def cancel(db: Database, claimed: Sequence[ClaimedDelivery]) -> None:
    """Finish deliveries whose subscription no longer exists."""
    if not claimed:
        return
    now = time.time()
    async with db.write() as conn:
        await conn.execute(_delete_leased, [{"b_seq": c.seq, "b_lease": c.lease} for c in claimed])
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([c.delivery_id for c in claimed]))
            .values(status=DeliveryStatus.CANCELLED.value, finished_at=now, next_attempt_at=None)
        )


async def depth(db: Database) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(queue)) or 0)
