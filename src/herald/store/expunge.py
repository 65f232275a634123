"""Expunge: remove an event's content and every stored body of its attempts, keep the metadata.

A data-subject request must be able to erase what a producer sent without waiting for retention. The
event row stays (id, type, times, ordering key) with `data` = "null", no LiveChat context and
`expunged_at` set; its deliveries and attempts stay as the audit trail, each attempt without its response
body. Deliveries still queued are taken out of the queue and marked dead: there is nothing left to send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.models import DeliveryStatus
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.tables import attempts, deliveries, events, queue

EXPUNGED_DATA = "null"


@dataclass(frozen=True, slots=True)
class Expunged:
    event_id: str
    expunged_at: float
    attempts_cleared: int  # attempts whose response body was removed by this call
    deliveries_stopped: int  # queued deliveries taken out of the queue by this call


async def expunge_event(db: Database, account_id: str, event_id: str) -> Expunged:
    """Idempotent: expunging again clears what an attempt in flight recorded since, and keeps the first
    `expunged_at`."""
    now = time.time()
    e = events.c
    async with db.write() as conn:
        found = (
            await conn.execute(select(e.expunged_at).where(e.account_id == account_id, e.id == event_id))
        ).first()
        if found is None:
            raise NotFound(f"event {event_id} not found", field="event_id")
        expunged_at = found.expunged_at if found.expunged_at is not None else now
        await conn.execute(
            update(events)
            .where(e.account_id == account_id, e.id == event_id)
            .values(data=EXPUNGED_DATA, context=None, expunged_at=expunged_at)
        )
        ids = select(deliveries.c.id).where(
            deliveries.c.account_id == account_id, deliveries.c.event_id == event_id
        )
        cleared = await conn.execute(
            update(attempts)
            .where(attempts.c.delivery_id.in_(ids), attempts.c.response_body.is_not(None))
            .values(response_body=None)
        )
        stopped = await _stop_queued(conn, account_id, event_id, now)
    return Expunged(event_id, expunged_at, cleared.rowcount or 0, stopped)


async def _stop_queued(conn: AsyncConnection, account_id: str, event_id: str, now: float) -> int:
    gone = [
        r[0]
        for r in await conn.execute(
            delete(queue)
            .where(queue.c.account_id == account_id, queue.c.event_id == event_id)
            .returning(queue.c.delivery_id)
        )
    ]
    if gone:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(gone))
            .values(status=DeliveryStatus.DEAD.value, next_attempt_at=None, finished_at=now)
        )
    return len(gone)


def not_expunged() -> ColumnElement[bool]:
    """The clause recover and replay add so that expunged events are never sent again."""
    return events.c.expunged_at.is_(None)


async def refuse_if_expunged(conn: AsyncConnection, account_id: str, event_id: str, what: str) -> None:
    """The one check resend (and anything else that would send one event again) makes: 409 `expunged`."""
    at = await conn.scalar(
        select(events.c.expunged_at).where(
            and_(
                events.c.account_id == account_id, events.c.id == event_id, events.c.expunged_at.is_not(None)
            )
        )
    )
    if at is not None:
        raise Conflict(
            f"the content of event {event_id} was expunged; {what} cannot be sent again",
            field="event_id",
            reason="expunged",
            event_id=event_id,
            expunged_at=at,
        )
