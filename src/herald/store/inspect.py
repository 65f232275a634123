"""Inspector bins and the requests they captured (both backends).

A bin belongs to one account and expires; a capture keeps at most `max_requests` per bin (the oldest go
first, in the capture's own transaction) and at most `max_body` bytes of each body.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update

from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.tables import inspect_bins, inspect_requests


@dataclass(frozen=True, slots=True)
class Capture:
    """One request as it arrived at a bin's capture URL."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source: str


@dataclass(frozen=True, slots=True)
class Search:
    """Filters over a bin's requests; all optional."""

    text: str | None = None  # in header names/values or the body, case-insensitive
    method: str | None = None
    since: float | None = None
    until: float | None = None


async def create_bin(
    db: Database, account_id: str, fields: dict[str, Any], ttl: float, max_bins: int
) -> dict[str, Any]:
    now = time.time()
    row = {
        "id": new_id("bin"),
        "account_id": account_id,
        "created_at": now,
        "expires_at": now + ttl,
        **fields,
    }
    async with db.write() as conn:
        live = await conn.scalar(
            select(func.count())
            .select_from(inspect_bins)
            .where(inspect_bins.c.account_id == account_id, inspect_bins.c.expires_at > now)
        )
        if (live or 0) >= max_bins:
            raise Conflict(
                f"account {account_id} already has {live} bins (the limit); delete one first",
                field="account_id",
                limit=max_bins,
            )
        await conn.execute(insert(inspect_bins), row)
    return row


async def get_bin(db: Database, bin_id: str) -> dict[str, Any]:
    """A live (unexpired) bin, or NotFound."""
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(inspect_bins).where(
                        inspect_bins.c.id == bin_id, inspect_bins.c.expires_at > time.time()
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"bin {bin_id} not found", field="bin_id")
    return dict(row)


async def list_bins(
    db: Database, account_id: str | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(inspect_bins).where(inspect_bins.c.expires_at > time.time())
    if account_id is not None:
        query = query.where(inspect_bins.c.account_id == account_id)
    async with db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(page(query, inspect_bins.c.created_at, inspect_bins.c.id, limit, cursor))
            ).mappings()
        ]
    return split_page(rows, limit)


async def update_bin(db: Database, bin_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    if changes:
        async with db.write() as conn:
            await conn.execute(
                update(inspect_bins)
                .where(inspect_bins.c.id == bin_id, inspect_bins.c.expires_at > time.time())
                .values(**changes)
            )
    return await get_bin(db, bin_id)


async def delete_bin(db: Database, bin_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(delete(inspect_requests).where(inspect_requests.c.bin_id == bin_id))
        result = await conn.execute(delete(inspect_bins).where(inspect_bins.c.id == bin_id))
    if result.rowcount == 0:
        raise NotFound(f"bin {bin_id} not found", field="bin_id")


def _encode_body(body: bytes) -> tuple[str, str]:
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), "base64"


def decode_body(row: dict[str, Any]) -> bytes:
    if row["body_encoding"] == "base64":
        return base64.b64decode(row["body"])
    return str(row["body"]).encode("utf-8")


async def capture(
    db: Database, bin_id: str, request: Capture, max_body: int, max_requests: int
) -> dict[str, Any]:
    """Record a request; drop the bin's oldest beyond `max_requests` in the same transaction."""
    kept = request.body[:max_body]
    text, encoding = _encode_body(kept)
    row = {
        "id": new_id("req"),
        "bin_id": bin_id,
        "method": request.method[:16],
        "path": request.path,
        "query": request.query,
        "headers": orjson.dumps(request.headers).decode(),
        "body": text,
        "body_encoding": encoding,
        "body_size": len(request.body),
        "truncated": len(kept) < len(request.body),
        "source": request.source[:100],
        "created_at": time.time(),
    }
    newest = (
        select(inspect_requests.c.id)
        .where(inspect_requests.c.bin_id == bin_id)
        .order_by(inspect_requests.c.created_at.desc(), inspect_requests.c.id.desc())
        .limit(max_requests)
    )
    async with db.write() as conn:
        await conn.execute(insert(inspect_requests), row)
        await conn.execute(
            delete(inspect_requests).where(
                inspect_requests.c.bin_id == bin_id, inspect_requests.c.id.not_in(newest.scalar_subquery())
            )
        )
    return row


def _search_clause(search: Search) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if search.text:
        needle = search.text.lower()
        where.append(
            or_(
                func.lower(inspect_requests.c.headers).contains(needle, autoescape=True),
                func.lower(inspect_requests.c.body).contains(needle, autoescape=True),
            )
        )
    if search.method:
        where.append(inspect_requests.c.method == search.method.upper())
    if search.since is not None:
        where.append(inspect_requests.c.created_at >= search.since)
    if search.until is not None:
        where.append(inspect_requests.c.created_at <= search.until)
    return where


async def list_requests(
    db: Database, bin_id: str, search: Search, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(inspect_requests).where(inspect_requests.c.bin_id == bin_id, *_search_clause(search))
    async with db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    page(query, inspect_requests.c.created_at, inspect_requests.c.id, limit, cursor)
                )
            ).mappings()
        ]
    return split_page(rows, limit)


async def get_request(db: Database, bin_id: str, request_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(inspect_requests).where(
                        inspect_requests.c.bin_id == bin_id, inspect_requests.c.id == request_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"request {request_id} not found", field="request_id")
    return dict(row)


async def requests_since(db: Database, bin_id: str, since: float) -> list[dict[str, Any]]:
    """The bin's requests captured at or after `since`, oldest first (the live stream polls this)."""
    query = (
        select(inspect_requests)
        .where(inspect_requests.c.bin_id == bin_id, inspect_requests.c.created_at >= since)
        .order_by(inspect_requests.c.created_at, inspect_requests.c.id)
        .limit(500)
    )
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def remove_expired(db: Database, now: float | None = None) -> int:
    """Delete expired bins and their requests; how many bins went."""
    now = time.time() if now is None else now
    async with db.write() as conn:
        result = await conn.execute(delete(inspect_bins).where(inspect_bins.c.expires_at <= now))
        # Their requests, and any captured while their bin was being deleted.
        await conn.execute(
            delete(inspect_requests).where(inspect_requests.c.bin_id.not_in(select(inspect_bins.c.id)))
        )
    return int(result.rowcount or 0)
