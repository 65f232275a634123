"""Publish: events and every delivery they fan out to, committed in one transaction.

Who gets each event, and with what policy, is routing's decision (herald.domain.routing over the rows of
herald.store.routing), the same one a replay makes; the deliveries are written by herald.store.enqueue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from herald.domain import livechat
from herald.domain.routing import Routed, context_of, fan_out
from herald.store import queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.routing import drain_conversations, routes_for_account


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    type: str
    timestamp: float
    data: str  # JSON text
    ordering_key: str | None = None
    context: dict[str, Any] | None = None  # LiveChat actions: what filters need beyond the payload


@dataclass(slots=True)
class PublishResult:
    ids: list[str]
    duplicates: list[str] = field(default_factory=list)
    created: int = 0  # events new to the store
    deliveries: int = 0


def _saved(ctx: livechat.EventContext | None, given: dict[str, Any] | None) -> str | None:
    saved = livechat.saved_context(ctx, given) if ctx is not None else None
    return orjson.dumps(saved).decode() if saved is not None else None


async def publish(db: Database, account_id: str, batch: list[NewEvent]) -> PublishResult:
    """Store the events and every delivery they fan out to in one transaction.

    The routes are read just before the write: a subscription created concurrently with a publish may or
    may not receive it, as with any other ordering of the two requests. The deliveries are worked out for
    every event of the batch; those of an event already stored (a duplicate) are dropped in the write.
    """
    now = time.time()
    # The same id twice in one batch is one event, as it would be across two requests.
    unique: dict[str, NewEvent] = {}
    for ev in batch:
        unique.setdefault(ev.id, ev)
    result = PublishResult(ids=[ev.id for ev in batch])
    async with db.read() as conn:
        routes = await routes_for_account(conn, account_id)
        draining = await drain_conversations(conn, routes, (ev.ordering_key for ev in unique.values()))
    # LiveChat actions keep what filters and additional_data need (payload + the producer's context).
    routed = [
        Routed(account_id, ev.id, ev.type, ev.data, ev.ordering_key, context_of(ev.type, ev.data, ev.context))
        for ev in unique.values()
    ]
    rows = fan_out({account_id: routes}, routed, now, draining)
    events = [
        (ev.id, ev.type, ev.timestamp, ev.data, ev.ordering_key, _saved(r.context, ev.context))
        for ev, r in zip(unique.values(), routed, strict=True)
    ]
    if db.is_sqlite:
        inserted, result.deliveries = await db.sqlite_write(
            queue_sqlite.publish, account_id, now, events, rows
        )
    else:
        async with db.driver_transaction() as conn:
            inserted, result.deliveries = await queue_postgres.publish(conn, account_id, now, events, rows)
    result.duplicates = [i for i in unique if i not in inserted]
    result.created = len(inserted)
    return result
