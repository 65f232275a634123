"""The delivery log: search, one delivery with its attempts, and resend."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, update

from herald.domain.models import DeliveryStatus, NewDelivery
from herald.ids import new_id
from herald.store.database import Database
from herald.store.enqueue import Requeue, enqueue, requeue
from herald.store.errors import Conflict, NotFound
from herald.store.expunge import refuse_if_expunged
from herald.store.pagination import page, split_page
from herald.store.tables import attempts, deliveries, events


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    subscription_id: str | None = None
    status: DeliveryStatus | None = None
    event_type: str | None = None
    event_id: str | None = None
    since: float | None = None
    until: float | None = None
    is_replay: bool | None = None
    replay_of: str | None = None


async def list_deliveries(
    db: Database, account_id: str, flt: DeliveryFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    d = deliveries.c
    query = select(deliveries).where(d.account_id == account_id)
    if flt.subscription_id:
        query = query.where(d.subscription_id == flt.subscription_id)
    if flt.status:
        query = query.where(d.status == flt.status.value)
    if flt.event_type:
        query = query.where(d.event_type == flt.event_type)
    if flt.event_id:
        query = query.where(d.event_id == flt.event_id)
    if flt.is_replay is not None:
        query = query.where(d.replay_of.is_not(None) if flt.is_replay else d.replay_of.is_(None))
    if flt.replay_of:
        query = query.where(d.replay_of == flt.replay_of)
    if flt.since is not None:
        query = query.where(d.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(d.created_at < flt.until)
    async with db.read() as conn:
        rows = [
            dict(r) for r in (await conn.execute(page(query, d.created_at, d.id, limit, cursor))).mappings()
        ]
    return split_page(rows, limit)


async def get_delivery(db: Database, account_id: str, delivery_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(deliveries).where(
                        deliveries.c.account_id == account_id, deliveries.c.id == delivery_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found", field="delivery_id")
        out = dict(row)
        attempt_rows = (
            (
                await conn.execute(
                    select(attempts)
                    .where(attempts.c.delivery_id == delivery_id)
                    .order_by(attempts.c.attempted_at, attempts.c.attempt)
                )
            )
            .mappings()
            .all()
        )
        event = (
            (
                await conn.execute(
                    select(
                        events.c.type,
                        events.c.timestamp,
                        events.c.data,
                        events.c.ordering_key,
                        events.c.expunged_at,
                    ).where(
                        events.c.account_id == account_id, events.c.id == out["event_id"]
                    )
                )
            )
            .mappings()
            .first()
        )
    out["attempt_log"] = [
        {**a, "request_headers": orjson.loads(a["request_headers"]) if a["request_headers"] else {}}
        for a in attempt_rows
    ]
    if event is not None:
        out["event"] = {
            "id": out["event_id"],
            "type": event["type"],
            "timestamp": event["timestamp"],
            "ordering_key": event["ordering_key"],
            "data": orjson.loads(event["data"]),
        }
        if event["expunged_at"] is not None:
            out["event"]["expunged_at"] = event["expunged_at"]
    return out


async def resend(db: Database, account_id: str, delivery_id: str) -> dict[str, Any]:
    """Queue one more attempt now. A manual resend is tried once and not retried automatically.

    A finished delivery gets the attempt itself. One still queued (waiting for a retry, or in flight) keeps
    its schedule untouched: the resend is a new delivery of the same event to the same subscription, tried
    once now, and the answer is that new delivery (bringing the retry forward would use up a step of the
    schedule and push the next retry much further away)."""
    now = time.time()
    async with db.write() as conn:
        row = (
            (
                await conn.execute(
                    select(deliveries).where(
                        deliveries.c.account_id == account_id, deliveries.c.id == delivery_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found", field="delivery_id")
        event = await conn.scalar(
            select(events.c.id).where(events.c.account_id == account_id, events.c.id == row["event_id"])
        )
        if event is None:
            raise Conflict(
                f"the event of delivery {delivery_id} was pruned by retention; it cannot be sent again",
                field="delivery_id",
            )
        await refuse_if_expunged(conn, account_id, row["event_id"], f"delivery {delivery_id}")
        again = Requeue(delivery_id, account_id, row["event_id"], row["subscription_id"], row["attempts"])
        if await requeue(conn, [again], now):
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, finished_at=None)
            )
            target = delivery_id
        else:
            # Still queued (waiting for a retry, or in flight): its schedule stays as it is.
            target = new_id("dlv")
            event_id, event_type, sub_id = row["event_id"], row["event_type"], row["subscription_id"]
            copy = NewDelivery(target, account_id, event_id, event_type, sub_id, None, None, None, now)
            await enqueue(conn, [copy], now, manual=True)
    return await get_delivery(db, account_id, target)
