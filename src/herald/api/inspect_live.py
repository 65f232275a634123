"""The inspector's live view: captured requests as server-sent events, and the short-lived tickets the HTML
page streams with (EventSource cannot send an Authorization header).

Captures may land in any API process, so the stream polls the table; it re-reads a few seconds back on
every poll because rows can commit out of `created_at` order, and drops what it has already sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from pydantic import Field
from sse_starlette import EventSourceResponse

from herald.api.context import AppContext
from herald.api.schemas import OutModel
from herald.store import inspect as store
from herald.store.errors import NotFound

STREAM_POLL = 0.25  # seconds between looks at the table
STREAM_OVERLAP = 5.0  # seconds re-read on every poll
TICKET_TTL = 60


class CapturedOut(OutModel):
    id: str
    bin_id: str
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: str
    body_encoding: str = Field(description="utf-8, or base64 for bodies that are not UTF-8 text")
    body_size: int = Field(description="Bytes received (more than kept when truncated)")
    truncated: bool
    source: str = Field(description="The client address")
    created_at: datetime


def captured_out(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "headers": orjson.loads(row["headers"])}


def _ticket_key(ctx: AppContext) -> bytes:
    # Derived from the master key every process shares, so any API process accepts any other's ticket.
    key = ctx.settings.secret_keys()[0].encode()
    return hashlib.sha256(b"herald inspector stream ticket\0" + key).digest()


def make_ticket(ctx: AppContext, bin_id: str, now: float | None = None) -> str:
    expires = int((time.time() if now is None else now) + TICKET_TTL)
    mac = hmac.new(_ticket_key(ctx), f"{bin_id}.{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def ticket_valid(ctx: AppContext, bin_id: str, ticket: str) -> bool:
    expires, _, mac = ticket.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    good = hmac.new(_ticket_key(ctx), f"{bin_id}.{expires}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(good, mac)


async def _events(ctx: AppContext, bin_id: str, since: float) -> AsyncIterator[dict[str, str]]:
    """New captures of the bin as server-sent events (`request`), until the bin expires (`expired`)."""
    seen: dict[str, float] = {}
    newest = since
    polls = 0
    while True:
        rows = await store.requests_since(ctx.db, bin_id, max(since, newest - STREAM_OVERLAP))
        for row in rows:
            if row["id"] in seen:
                continue
            seen[row["id"]] = row["created_at"]
            newest = max(newest, row["created_at"])
            out = CapturedOut.model_validate(captured_out(row)).model_dump(mode="json")
            yield {"event": "request", "id": row["id"], "data": orjson.dumps(out).decode()}
        cutoff = newest - 2 * STREAM_OVERLAP
        for key in [k for k, at in seen.items() if at < cutoff]:
            del seen[key]
        polls += 1
        if polls % 20 == 0:  # every few seconds: has the bin gone?
            try:
                await store.get_bin(ctx.db, bin_id)
            except NotFound:
                yield {"event": "expired", "data": orjson.dumps({"bin_id": bin_id}).decode()}
                return
        await asyncio.sleep(STREAM_POLL)


def event_stream(ctx: AppContext, bin_id: str, since: datetime | None) -> EventSourceResponse:
    start = since.timestamp() if since else time.time()
    return EventSourceResponse(_events(ctx, bin_id, start), ping=15, headers={"cache-control": "no-store"})
