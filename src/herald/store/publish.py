"""Publish: events and every delivery they fan out to, committed in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.matching import type_matches
from herald.ids import new_id
from herald.store import queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.tables import installations, subscriptions


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    type: str
    timestamp: float
    data: str  # JSON text
    ordering_key: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    subscription_id: str
    event_types: list[str]
    ordered: bool
    max_retries: int | None
    retention_time: int | None


@dataclass(slots=True)
class PublishResult:
    ids: list[str]
    duplicates: list[str] = field(default_factory=list)
    created: int = 0  # events new to the store
    deliveries: int = 0


async def routes_for_account(conn: AsyncConnection, account_id: str) -> list[Route]:
    """Enabled subscriptions of the account, plus those of applications installed and enabled in it."""
    inst = installations
    query = (
        select(
            subscriptions.c.id,
            subscriptions.c.event_types,
            subscriptions.c.ordered,
            subscriptions.c.max_retries,
            inst.c.max_retries.label("inst_max_retries"),
            inst.c.retention_time,
        )
        .select_from(
            subscriptions.outerjoin(
                inst,
                and_(
                    inst.c.application_id == subscriptions.c.application_id, inst.c.account_id == account_id
                ),
            )
        )
        .where(
            subscriptions.c.enabled.is_(True),
            or_(
                and_(subscriptions.c.account_id == account_id, subscriptions.c.application_id.is_(None)),
                and_(subscriptions.c.application_id.is_not(None), inst.c.enabled.is_(True)),
            ),
        )
    )
    rows = (await conn.execute(query)).mappings().all()
    return [
        Route(
            subscription_id=r["id"],
            event_types=r["event_types"],
            ordered=r["ordered"],
            max_retries=r["max_retries"] if r["max_retries"] is not None else r["inst_max_retries"],
            retention_time=r["retention_time"],
        )
        for r in rows
    ]


async def publish(db: Database, account_id: str, batch: list[NewEvent]) -> PublishResult:
    """Store the events and every delivery they fan out to in one transaction.

    The routes are read just before the write: a subscription created concurrently with a publish may or
    may not receive it, as with any other ordering of the two requests.
    """
    now = time.time()
    # The same id twice in one batch is one event, as it would be across two requests.
    unique: dict[str, NewEvent] = {}
    for ev in batch:
        unique.setdefault(ev.id, ev)
    result = PublishResult(ids=[ev.id for ev in batch])
    async with db.read() as conn:
        routes = await routes_for_account(conn, account_id)
    events = [(ev.id, ev.type, ev.timestamp, ev.data, ev.ordering_key) for ev in unique.values()]

    def rows_for(inserted: set[str]) -> list[queue_sqlite.Row]:
        return [
            (
                new_id("dlv"),
                ev.id,
                ev.type,
                route.subscription_id,
                ev.ordering_key if route.ordered else None,
                route.max_retries,
                route.retention_time,
            )
            for ev in unique.values()
            if ev.id in inserted
            for route in routes
            if type_matches(route.event_types, ev.type)
        ]

    if db.is_sqlite:
        inserted, result.deliveries = await db.sqlite_write(
            queue_sqlite.publish, account_id, now, events, rows_for
        )
    else:
        async with db.driver_transaction() as conn:
            inserted = await queue_postgres.insert_events(conn, account_id, now, events)
            rows = rows_for(inserted)
            if rows:
                await queue_postgres.enqueue(conn, account_id, now, rows)
            result.deliveries = len(rows)
    result.duplicates = [i for i in unique if i not in inserted]
    result.created = len(inserted)
    return result
