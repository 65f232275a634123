"""Publish: events and every delivery they fan out to, committed in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.matching import type_matches
from herald.domain.models import DeliveryStatus
from herald.ids import new_id
from herald.store.database import Database
from herald.store.tables import deliveries, events, installations, queue, subscriptions


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


def _insert_ignoring_duplicates(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(events).on_conflict_do_nothing(index_elements=["account_id", "id"])


async def publish(db: Database, account_id: str, batch: list[NewEvent]) -> PublishResult:
    now = time.time()
    # The same id twice in one batch is one event, as it would be across two requests.
    unique: dict[str, NewEvent] = {}
    for ev in batch:
        unique.setdefault(ev.id, ev)
    result = PublishResult(ids=[ev.id for ev in batch])
    async with db.write() as conn:
        routes = await routes_for_account(conn, account_id)
        inserted = set(
            (
                await conn.execute(
                    _insert_ignoring_duplicates(db.dialect).returning(events.c.id),
                    [
                        {
                            "account_id": account_id,
                            "id": ev.id,
                            "type": ev.type,
                            "timestamp": ev.timestamp,
                            "data": ev.data,
                            "ordering_key": ev.ordering_key,
                            "created_at": now,
                        }
                        for ev in unique.values()
                    ],
                )
            ).scalars()
        )
        result.duplicates = [i for i in unique if i not in inserted]
        result.created = len(inserted)
        delivery_rows: list[dict[str, Any]] = []
        queue_rows: list[dict[str, Any]] = []
        for ev in unique.values():
            if ev.id not in inserted:
                continue
            for route in routes:
                if not type_matches(route.event_types, ev.type):
                    continue
                delivery_id = new_id("dlv")
                delivery_rows.append(
                    {
                        "id": delivery_id,
                        "account_id": account_id,
                        "event_id": ev.id,
                        "event_type": ev.type,
                        "subscription_id": route.subscription_id,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": 0,
                        "created_at": now,
                        "next_attempt_at": now,
                    }
                )
                queue_rows.append(
                    {
                        "delivery_id": delivery_id,
                        "account_id": account_id,
                        "event_id": ev.id,
                        "subscription_id": route.subscription_id,
                        "ordering_key": ev.ordering_key if route.ordered else None,
                        "available_at": now,
                        "attempts": 0,
                        "lease": 0,
                        "max_retries": route.max_retries,
                        "retention_time": route.retention_time,
                        "manual": False,
                        "created_at": now,
                    }
                )
        if delivery_rows:
            await conn.execute(insert(deliveries), delivery_rows)
            await conn.execute(insert(queue), queue_rows)
        result.deliveries = len(delivery_rows)
    return result
