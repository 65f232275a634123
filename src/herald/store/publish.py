"""Publish: events and every delivery they fan out to, committed in one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain import livechat
from herald.domain.filters import Filter, FilterError, compile_filter
from herald.domain.matching import type_matches
from herald.domain.ttl import HELD_AT, TTL_PROFILE, State, publish_delay
from herald.ids import new_id
from herald.store import queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.livechat import license_webhooks_on
from herald.store.tables import (
    installations,
    livechat_license_webhooks,
    subscriptions,
    ttl_drain_conversations,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    type: str
    timestamp: float
    data: str  # JSON text
    ordering_key: str | None = None
    context: dict[str, Any] | None = None  # LiveChat actions: what filters need beyond the payload


@dataclass(frozen=True, slots=True)
class Route:
    subscription_id: str
    event_types: list[str]
    ordered: bool
    max_retries: int | None
    retention_time: int | None
    filter: Filter | None = None  # over the event's data; None = every event of a matching type
    # LivePerson Connector with a time to live: ordered per conversation; and when the TTL is its
    # installation's, that installation's state decides whether events are held.
    ttl: bool = False
    installation_id: str | None = None
    state: State = State.UP
    livechat: LiveChatRoute | None = None  # a LiveChat webhook's filters

    @property
    def keeps_order(self) -> bool:
        return self.ordered or self.ttl


@dataclass(frozen=True, slots=True)
class LiveChatRoute:
    filters: dict[str, Any]
    owner_client_id: str
    kind: str = "license"  # or "bot"

    def matches(self, ctx: livechat.EventContext | None) -> bool:
        return ctx is not None and livechat.matches(self.filters, self.owner_client_id, ctx, self.kind)


def _livechat_route(options: Any) -> LiveChatRoute | None:
    if not isinstance(options, dict):
        return None
    return LiveChatRoute(
        options.get("filters") or {},
        str(options.get("owner_client_id", "")),
        str(options.get("type", "license")),
    )


def _compiled(subscription_id: str, spec: Any) -> Filter | None:
    """A stored filter, compiled. One that no longer validates matches nothing (fails closed)."""
    if spec is None:
        return None
    try:
        return compile_filter(spec)
    except FilterError as exc:
        log.warning("subscription %s has an invalid filter, matching nothing: %s", subscription_id, exc)
        return Filter(spec if isinstance(spec, dict) else {}, lambda _data: False)


@dataclass(slots=True)
class PublishResult:
    ids: list[str]
    duplicates: list[str] = field(default_factory=list)
    created: int = 0  # events new to the store
    deliveries: int = 0


async def routes_for_account(conn: AsyncConnection, account_id: str) -> list[Route]:
    """Enabled subscriptions of the account, plus those of applications installed and enabled in it
    (LiveChat webhooks only where their application's webhooks are enabled for the account, too)."""
    inst = installations
    lw = livechat_license_webhooks
    query = (
        select(
            subscriptions.c.id,
            subscriptions.c.event_types,
            subscriptions.c.ordered,
            subscriptions.c.max_retries,
            subscriptions.c.retention_time.label("sub_retention_time"),
            subscriptions.c.profile,
            subscriptions.c.filter,
            subscriptions.c.livechat,
            inst.c.max_retries.label("inst_max_retries"),
            inst.c.retention_time,
            inst.c.id.label("installation_id"),
            inst.c.state,
        )
        .select_from(
            subscriptions.outerjoin(
                inst,
                and_(
                    inst.c.application_id == subscriptions.c.application_id, inst.c.account_id == account_id
                ),
            ).outerjoin(
                lw, and_(lw.c.application_id == subscriptions.c.application_id, lw.c.account_id == account_id)
            )
        )
        .where(
            subscriptions.c.enabled.is_(True),
            or_(
                and_(subscriptions.c.account_id == account_id, subscriptions.c.application_id.is_(None)),
                and_(subscriptions.c.application_id.is_not(None), inst.c.enabled.is_(True)),
            ),
            or_(subscriptions.c.livechat.is_(None), license_webhooks_on(lw.c.enabled)),
        )
    )
    rows = (await conn.execute(query)).mappings().all()
    return [_route(r) for r in rows]


def _route(r: Any) -> Route:
    livechat_options = r["livechat"]
    # A retention time: the subscription's own, else its installation's. Only LivePerson Connector
    # retries by it; and only an installation's TTL runs the state machine (herald.domain.ttl).
    connector = r["profile"] == TTL_PROFILE
    own = r["sub_retention_time"] if connector else None
    inst_ttl = connector and r["retention_time"] is not None
    if livechat_options is not None:
        # The installation's retry settings are LivePerson's; a LiveChat webhook keeps its profile's policy.
        max_retries, retention_time = r["max_retries"], None
    else:
        max_retries = r["max_retries"] if r["max_retries"] is not None else r["inst_max_retries"]
        retention_time = own if own is not None else r["retention_time"]
    return Route(
        subscription_id=r["id"],
        event_types=r["event_types"],
        ordered=r["ordered"],
        max_retries=max_retries,
        retention_time=retention_time,
        filter=_compiled(r["id"], r["filter"]),
        livechat=_livechat_route(livechat_options),
        ttl=own is not None or inst_ttl,
        installation_id=r["installation_id"] if inst_ttl else None,
        state=State(r["state"]) if inst_ttl and r["state"] else State.UP,
    )


async def _drain_conversations(
    conn: AsyncConnection, routes: list[Route], events: Any
) -> set[tuple[str, str]]:
    """(installation id, conversation) pairs of the batch that are drain conversations of a RECOVERED
    installation; only asked when such an installation is among the routes (rare)."""
    recovered = {r.installation_id for r in routes if r.state is State.RECOVERED and r.installation_id}
    keys = {ev.ordering_key for ev in events if ev.ordering_key is not None}
    if not recovered or not keys:
        return set()
    d = ttl_drain_conversations
    rows = await conn.execute(
        select(d.c.installation_id, d.c.ordering_key).where(
            d.c.installation_id.in_(recovered), d.c.ordering_key.in_(keys)
        )
    )
    return {(r[0], r[1]) for r in rows}


def _parse(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _stored(ctx: livechat.EventContext | None) -> str | None:
    stored = ctx.stored() if ctx is not None else None
    return orjson.dumps(stored).decode() if stored is not None else None


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
        draining = await _drain_conversations(conn, routes, unique.values())
    # LiveChat actions keep what filters and additional_data need (payload + the producer's context).
    contexts = {
        ev.id: livechat.event_context(ev.type, _parse(ev.data), ev.context)
        for ev in unique.values()
        if ev.type in livechat.ACTION_FILTERS
    }
    events = [
        (ev.id, ev.type, ev.timestamp, ev.data, ev.ordering_key, _stored(contexts.get(ev.id)))
        for ev in unique.values()
    ]

    def due_at(route: Route, ev: NewEvent) -> float:
        if route.installation_id is None or route.state is State.UP:
            return now
        delay = publish_delay(route.state, (route.installation_id, ev.ordering_key) in draining)
        return HELD_AT if delay is None else now + delay

    filtered = any(route.filter is not None for route in routes)

    def rows_for(inserted: set[str]) -> list[queue_sqlite.Row]:
        # Each event's data is parsed once, and only when some route has a filter.
        parsed = {ev.id: _parse(ev.data) for ev in unique.values() if ev.id in inserted} if filtered else {}
        return [
            (
                new_id("dlv"),
                ev.id,
                ev.type,
                route.subscription_id,
                ev.ordering_key if route.keeps_order else None,
                route.max_retries,
                route.retention_time,
                due_at(route, ev),
            )
            for ev in unique.values()
            if ev.id in inserted
            for route in routes
            if type_matches(route.event_types, ev.type)
            and (route.filter is None or route.filter.matches(parsed[ev.id]))
            and (route.livechat is None or route.livechat.matches(contexts.get(ev.id)))
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
