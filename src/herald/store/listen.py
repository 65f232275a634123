"""`herald listen` sessions and the requests relayed through them (both backends).

A session owns a temporary account subscription whose URL is `herald-listen://<session id>` (a scheme
only this module creates; the API refuses it from users). The dispatcher's relay writes each rendered
request into `listen_requests` and waits for the CLI's answer; the CLI claims pending rows through the API
and posts the local endpoint's answer back.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, cancel_queued, create_subscription
from herald.store.tables import listen_requests, listen_sessions, subscriptions

SCHEME = "herald-listen"


def listen_url(session_id: str) -> str:
    return f"{SCHEME}://{session_id}"


def session_of(url: str) -> str | None:
    prefix = f"{SCHEME}://"
    return url[len(prefix) :] if url.startswith(prefix) else None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the CLI reports: the local endpoint's answer, or why there was none."""

    status_code: int | None
    headers: dict[str, str]
    body: bytes
    error_kind: str | None = None
    error_message: str | None = None


async def create_session(
    db: Database,
    box: SecretBox,
    account_id: str,
    event_types: list[str],
    profile: str,
    forward_to: str | None,
) -> dict[str, Any]:
    """The session and its subscription; the answer carries the subscription's secret (shown once)."""
    session_id = new_id("lsn")
    sub = await create_subscription(
        db,
        box,
        Owner(account_id=account_id),
        {
            "url": listen_url(session_id),
            "event_types": event_types,
            "name": "herald listen",
            "description": f"temporary: herald listen session {session_id}",
            "profile": profile,
            "ordered": False,
            "max_retries": None,
        },
    )
    now = time.time()
    row = {
        "id": session_id,
        "account_id": account_id,
        "subscription_id": sub["id"],
        "forward_to": forward_to,
        "created_at": now,
        "seen_at": now,
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(listen_sessions), row)
    except Exception:
        await _drop_subscription(db, sub["id"])
        raise
    return {**row, "secret": sub.get("secret"), "event_types": event_types, "profile": profile}


async def get_session(db: Database, session_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (await conn.execute(select(listen_sessions).where(listen_sessions.c.id == session_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"listen session {session_id} not found", field="session_id")
    return dict(row)


async def _drop_subscription(db: Database, subscription_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(subscriptions).where(subscriptions.c.id == subscription_id))
        await cancel_queued(conn, subscription_id)


async def delete_session(db: Database, session_id: str) -> None:
    """Remove the session, its subscription (queued deliveries are cancelled) and its relayed requests;
    a relay still waiting sees its row vanish and reports the session gone."""
    async with db.write() as conn:
        row = (
            (await conn.execute(select(listen_sessions).where(listen_sessions.c.id == session_id)))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"listen session {session_id} not found", field="session_id")
        await conn.execute(delete(listen_requests).where(listen_requests.c.session_id == session_id))
        await conn.execute(delete(listen_sessions).where(listen_sessions.c.id == session_id))
        await conn.execute(delete(subscriptions).where(subscriptions.c.id == row["subscription_id"]))
        await cancel_queued(conn, row["subscription_id"])


async def remove_stale(db: Database, ttl: float, now: float | None = None) -> int:
    """Sessions whose CLI has not polled for `ttl` seconds vanished: remove them; how many."""
    cutoff = (time.time() if now is None else now) - ttl
    query = select(listen_sessions.c.id).where(listen_sessions.c.seen_at < cutoff)
    async with db.read() as conn:
        stale = list((await conn.execute(query)).scalars())
    for session_id in stale:
        with contextlib.suppress(NotFound):  # another process got there first
            await delete_session(db, session_id)
    return len(stale)


async def touch(db: Database, session_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(listen_sessions).where(listen_sessions.c.id == session_id).values(seen_at=time.time())
        )


# ------------------------------------------------------------------------------------ the relay side


async def put_request(db: Database, session_id: str, headers: dict[str, str], body: bytes) -> str:
    request_id = new_id("lrq")
    async with db.write() as conn:
        await conn.execute(
            insert(listen_requests),
            {
                "id": request_id,
                "session_id": session_id,
                "headers": headers,
                "body": body,
                "created_at": time.time(),
            },
        )
    return request_id


async def answer_of(db: Database, request_id: str) -> Answer | bool | None:
    """The answer when there is one; None while waiting; False when the row is gone (session ended)."""
    query = select(
        listen_requests.c.answered_at,
        listen_requests.c.status_code,
        listen_requests.c.response_headers,
        listen_requests.c.response_body,
        listen_requests.c.error_kind,
        listen_requests.c.error_message,
    ).where(listen_requests.c.id == request_id)
    async with db.read() as conn:
        row = (await conn.execute(query)).mappings().first()
    if row is None:
        return False
    if row["answered_at"] is None:
        return None
    return Answer(
        row["status_code"],
        dict(row["response_headers"] or {}),
        bytes(row["response_body"] or b""),
        row["error_kind"],
        row["error_message"],
    )


async def drop_request(db: Database, request_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(listen_requests).where(listen_requests.c.id == request_id))


# -------------------------------------------------------------------------------------- the CLI side


async def claim_pending(db: Database, session_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """Pending requests of the session, marked claimed so that each is handed out once."""
    async with db.write() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    select(
                        listen_requests.c.id,
                        listen_requests.c.headers,
                        listen_requests.c.body,
                        listen_requests.c.created_at,
                    )
                    .where(listen_requests.c.session_id == session_id, listen_requests.c.claimed_at.is_(None))
                    .order_by(listen_requests.c.created_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)  # PostgreSQL: two pollers never share a row
                )
            ).mappings()
        ]
        if rows:
            await conn.execute(
                update(listen_requests)
                .where(listen_requests.c.id.in_([r["id"] for r in rows]))
                .values(claimed_at=time.time())
            )
    return rows


async def has_pending(db: Database, session_id: str) -> bool:
    query = (
        select(listen_requests.c.id)
        .where(listen_requests.c.session_id == session_id, listen_requests.c.claimed_at.is_(None))
        .limit(1)
    )
    async with db.read() as conn:
        return (await conn.execute(query)).first() is not None


async def answer(db: Database, session_id: str, request_id: str, reply: Answer) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            update(listen_requests)
            .where(
                listen_requests.c.id == request_id,
                listen_requests.c.session_id == session_id,
                listen_requests.c.answered_at.is_(None),
            )
            .values(
                answered_at=time.time(),
                status_code=reply.status_code,
                response_headers=reply.headers,
                response_body=reply.body,
                error_kind=reply.error_kind,
                error_message=reply.error_message,
            )
        )
        if result.rowcount == 0:
            exists = await conn.scalar(
                select(listen_requests.c.id).where(
                    listen_requests.c.id == request_id, listen_requests.c.session_id == session_id
                )
            )
            if exists is None:
                raise NotFound(
                    f"request {request_id} not found (answered too late: the delivery timed out)",
                    field="request_id",
                )
            raise Conflict(f"request {request_id} was already answered", field="request_id")
