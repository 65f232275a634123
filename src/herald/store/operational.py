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

import re
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.health import UNPARK_AFTER
from herald.domain.operational import TYPES, system_account
from herald.ids import new_id
from herald.store.database import Database
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
INSERT_DELIVERY = """
INSERT INTO deliveries (id, account_id, event_id, event_type, subscription_id, status, attempts, created_at,
                        next_attempt_at)
VALUES (:delivery, :acct, :id, :type, :sub, 'pending', 0, :now, :now)
"""
INSERT_QUEUE = """
INSERT INTO queue (delivery_id, account_id, event_id, subscription_id, ordering_key, available_at, attempts,
                   lease, max_retries, retention_time, manual, created_at)
VALUES (:delivery, :acct, :id, :sub, NULL, :now, 0, 0, NULL, NULL, FALSE, :now)
"""


@dataclass(frozen=True, slots=True)
class Emitted:
    id: str
    delivery_id: str | None  # None: the application has no operational URL (recorded only)


def _params(
    application_id: str | None, account_id: str | None, type: str, data: dict[str, Any]
) -> dict[str, Any]:
    if type not in TYPES:
        raise ValueError(f"unknown operational event type {type!r}; known: {', '.join(sorted(TYPES))}")
    body = {"application_id": application_id, "account_id": account_id, **data}
    return {
        "id": new_id("oev"),
        "app": application_id,
        "account": account_id,
        "acct": system_account(application_id) if application_id else None,
        "type": type,
        "data": orjson.dumps(body).decode(),
        "delivery": None,
        "sub": None,
        "now": time.time(),
    }


async def emit(
    conn: AsyncConnection,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """Record (and, with an operational URL, queue) one operational event in `conn`'s transaction."""
    p = _params(application_id, account_id, type, data)
    if p["acct"] is not None:
        p["sub"] = (await conn.execute(text(DELIVERY_TARGET), {"acct": p["acct"]})).scalar()
    if p["sub"] is not None:
        p["delivery"] = new_id("dlv")
        for sql in (INSERT_EVENT, INSERT_DELIVERY, INSERT_QUEUE):
            await conn.execute(text(sql), p)
    await conn.execute(text(INSERT_RECORD), p)
    return Emitted(p["id"], p["delivery"])


def emit_sqlite(
    conn: sqlite3.Connection,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """`emit` on the SQLite writer thread's connection (the recorder's transaction)."""
    p = _params(application_id, account_id, type, data)
    if p["acct"] is not None:
        row = conn.execute(DELIVERY_TARGET, {"acct": p["acct"]}).fetchone()
        p["sub"] = row[0] if row else None
    if p["sub"] is not None:
        p["delivery"] = new_id("dlv")
        for sql in (INSERT_EVENT, INSERT_DELIVERY, INSERT_QUEUE):
            conn.execute(sql, {k: p[k] for k in _names(sql)})
    conn.execute(INSERT_RECORD, {k: p[k] for k in _names(INSERT_RECORD)})
    return Emitted(p["id"], p["delivery"])


async def emit_pg(
    pg: Any,
    *,
    application_id: str | None,
    account_id: str | None,
    type: str,
    data: dict[str, Any],
) -> Emitted:
    """`emit` on a raw asyncpg connection (the recorder's transaction on PostgreSQL)."""
    p = _params(application_id, account_id, type, data)
    if p["acct"] is not None:
        p["sub"] = await pg.fetchval(*_positional(DELIVERY_TARGET, p))
    if p["sub"] is not None:
        p["delivery"] = new_id("dlv")
        for sql in (INSERT_EVENT, INSERT_DELIVERY, INSERT_QUEUE):
            await pg.execute(*_positional(sql, p))
    await pg.execute(*_positional(INSERT_RECORD, p))
    return Emitted(p["id"], p["delivery"])


_NAME = re.compile(r"(?<!:):([a-z]+)")


def _names(sql: str) -> list[str]:
    return list(dict.fromkeys(_NAME.findall(sql)))


def _positional(sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """`:name` placeholders as asyncpg's `$n`, with the argument list."""
    names = _names(sql)
    index = {n: i + 1 for i, n in enumerate(names)}
    return (_NAME.sub(lambda m: f"${index[m.group(1)]}", sql), *(params[n] for n in names))


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
