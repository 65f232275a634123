"""Emit operational events inside the caller's transaction.

`emit(conn, application_id=…, account_id=…, type=…, data=…)` is the one entry point for code holding a
SQLAlchemy connection (e.g. `async with db.write() as conn`); it works on both backends. It records the event
in `operational_events` (listed by the API) and, when the application has an operational URL, stores it as
an event with one queued delivery for the application's system subscription, so the dispatcher delivers it
like any other Standard Webhook (retries, log, health). Nothing is written outside the caller's
transaction: the event commits or rolls back with the state change that caused it.

The recorder's hot path holds a raw driver connection instead; `emit_sqlite` and `emit_pg` do the same
work there.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, fields
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.health import UNPARK_AFTER
from herald.domain.models import NewDelivery
from herald.domain.operational import TYPES, system_account
from herald.ids import new_id
from herald.store.database import Database
from herald.store.enqueue import enqueue, enqueue_pg, enqueue_sqlite
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, create_subscription, delete_subscription, update_subscription
from herald.store.tables import applications, deliveries, operational_events, queue

FIND_SYSTEM_SUBSCRIPTION = (
    "SELECT id FROM subscriptions WHERE account_id = :acct AND application_id IS NULL ORDER BY created_at"
)
# Where to deliver: like publish, a disabled endpoint gets nothing new (the event is still recorded).
DELIVERY_TARGET = (
    "SELECT id FROM subscriptions WHERE account_id = :acct AND application_id IS NULL AND enabled "
    "ORDER BY created_at"
)
INSERT_RECORD = """
INSERT INTO operational_events (id, application_id, account_id, type, data, delivery_id, created_at)
VALUES (:id, :app, :account, :type, :data, :delivery, :now)
"""
INSERT_EVENT = """
INSERT INTO events (account_id, id, type, timestamp, data, ordering_key, created_at)
VALUES (:acct, :id, :type, :now, :data, NULL, :now)
"""
# The same statements for asyncpg, which numbers its parameters (the recorder's transaction).
PG_DELIVERY_TARGET = DELIVERY_TARGET.replace(":acct", "$1")
PG_INSERT_RECORD = """
INSERT INTO operational_events (id, application_id, account_id, type, data, delivery_id, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
PG_INSERT_EVENT = """
INSERT INTO events (account_id, id, type, timestamp, data, ordering_key, created_at)
VALUES ($1, $2, $3, $4, $5, NULL, $4)
"""


@dataclass(frozen=True, slots=True)
class Emitted:
    id: str
    delivery_id: str | None  # None: the application has no operational URL (recorded only)


@dataclass(slots=True)
class _Event:
    """One operational event: its record, and (when its application's system subscription takes it)
    the event and the delivery that carry it there."""

    id: str
    app: str | None
    account: str | None
    acct: str | None  # the application's pseudo-account, where its system subscription lives
    type: str
    data: str
    now: float
    delivery: str | None = None

    def deliver_to(self, sub: str | None) -> NewDelivery | None:
        if sub is None or self.acct is None:
            return None
        self.delivery = new_id("dlv")
        return NewDelivery(self.delivery, self.acct, self.id, self.type, sub, None, None, None, self.now)

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def emitted(self) -> Emitted:
        return Emitted(self.id, self.delivery)


def _event(application_id: str | None, account_id: str | None, type: str, data: dict[str, Any]) -> _Event:
    if type not in TYPES:
        raise ValueError(f"unknown operational event type {type!r}; known: {', '.join(sorted(TYPES))}")
    body = {"application_id": application_id, "account_id": account_id, **data}
    acct = system_account(application_id) if application_id else None
    return _Event(
        new_id("oev"), application_id, account_id, acct, type, orjson.dumps(body).decode(), time.time()
    )


async def emit(
    conn: AsyncConnection,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """Record (and, with an operational URL, queue) one operational event in `conn`'s transaction."""
    ev = _event(application_id, account_id, type, data)
    target = (
        None if ev.acct is None else (await conn.execute(text(DELIVERY_TARGET), {"acct": ev.acct})).scalar()
    )
    delivery = ev.deliver_to(target)
    if delivery is not None:
        await conn.execute(text(INSERT_EVENT), ev.params())
        await enqueue(conn, [delivery], ev.now)
    await conn.execute(text(INSERT_RECORD), ev.params())
    return ev.emitted()


def emit_sqlite(
    conn: sqlite3.Connection,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """`emit` on the SQLite writer thread's connection (the recorder's transaction)."""
    ev = _event(application_id, account_id, type, data)
    found = None if ev.acct is None else conn.execute(DELIVERY_TARGET, {"acct": ev.acct}).fetchone()
    delivery = ev.deliver_to(found[0] if found else None)
    p = ev.params()
    if delivery is not None:
        conn.execute(INSERT_EVENT, {k: p[k] for k in ("acct", "id", "type", "now", "data")})
        enqueue_sqlite(conn, [delivery], ev.now)
    conn.execute(
        INSERT_RECORD, {k: p[k] for k in ("id", "app", "account", "type", "data", "delivery", "now")}
    )
    return ev.emitted()


async def emit_pg(
    pg: Any,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """`emit` on a raw asyncpg connection (the recorder's transaction on PostgreSQL)."""
    ev = _event(application_id, account_id, type, data)
    delivery = ev.deliver_to(None if ev.acct is None else await pg.fetchval(PG_DELIVERY_TARGET, ev.acct))
    if delivery is not None:
        await pg.execute(PG_INSERT_EVENT, ev.acct, ev.id, ev.type, ev.now, ev.data)
        await enqueue_pg(pg, [delivery], ev.now)
    await pg.execute(PG_INSERT_RECORD, ev.id, ev.app, ev.account, ev.type, ev.data, ev.delivery, ev.now)
    return ev.emitted()


async def configure(db: Database, box: SecretBox, application_id: str, url: str | None) -> str | None:
    """Point the application's operational events at `url` (None: stop sending them). Returns the new
    whsec_ signing secret when a URL is set (shown once), else None. One system subscription per
    application, owned by its pseudo-account; changing the URL keeps the secret."""
    acct = system_account(application_id)
    owner = Owner(account_id=acct)
    async with db.read() as conn:
        existing = (await conn.execute(text(FIND_SYSTEM_SUBSCRIPTION), {"acct": acct})).scalar()
    secret = None
    if url is None:
        if existing is not None:
            await delete_subscription(db, owner, existing)
    elif existing is None:
        fields = {"url": url, "event_types": ["*"], "profile": "standard", "name": "operational events"}
        secret = (await create_subscription(db, box, owner, fields))["secret"]
    else:
        # Setting the URL again also re-enables the endpoint if health control had disabled it.
        changes = {"url": url, "enabled": True, "disabled_reason": None, "disabled_at": None}
        await update_subscription(db, box, owner, existing, changes)
        async with db.write() as conn:
            await conn.execute(
                update(queue)
                .where(queue.c.subscription_id == existing, queue.c.available_at > time.time() + UNPARK_AFTER)
                .values(available_at=time.time())
            )
    async with db.write() as conn:
        await conn.execute(
            update(applications).where(applications.c.id == application_id).values(operational_url=url)
        )
    return secret


async def list_events(
    db: Database,
    *,
    application_id: str | None = None,
    account_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Operational events of an application (or of an account), newest first, with their delivery's status."""
    oe = operational_events
    query = select(
        oe.c.id, oe.c.application_id, oe.c.account_id, oe.c.type, oe.c.data, oe.c.delivery_id,
        oe.c.created_at, deliveries.c.status.label("delivery_status"),
    ).select_from(oe.outerjoin(deliveries, deliveries.c.id == oe.c.delivery_id))  # fmt: skip
    if application_id is not None:
        query = query.where(oe.c.application_id == application_id)
    if account_id is not None:
        query = query.where(oe.c.account_id == account_id)
    query = page(query, oe.c.created_at, oe.c.id, limit, cursor)
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    for r in rows:
        r["data"] = orjson.loads(r["data"])
    return split_page(rows, limit)
