"""Inspector bins, captured requests and `herald listen` relay rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from herald.dispatch.relay import ListenRelay, RoutingTransport
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError
from herald.store import inspect as store
from herald.store import listen
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.inspect import Capture, Search
from herald.store.secretbox import SecretBox
from herald.store.tables import (
    deliveries,
    inspect_bins,
    inspect_requests,
    listen_requests,
    listen_sessions,
    subscriptions,
)

if TYPE_CHECKING:
    from conftest import Kit

RESPONSE = {"response_status": 202, "response_body": "hi", "response_headers": {}, "response_delay": 0.0}


def capture(body: bytes = b'{"a":1}', method: str = "POST", **headers: str) -> Capture:
    return Capture(
        method, "/x", "q=1", [("content-type", "application/json"), *headers.items()], body, "1.2.3.4"
    )


async def test_bins_limit_per_account_and_expiry(db: Database, kit: Kit) -> None:
    first = await store.create_bin(db, "acct-1", {"name": "a", **RESPONSE}, ttl=3600, max_bins=2)
    await store.create_bin(db, "acct-1", {"name": "b", **RESPONSE}, ttl=3600, max_bins=2)
    with pytest.raises(Conflict) as refused:
        await store.create_bin(db, "acct-1", {"name": "c", **RESPONSE}, ttl=3600, max_bins=2)
    assert refused.value.data == {"field": "account_id", "limit": 2}
    await store.create_bin(db, "acct-2", {"name": "other", **RESPONSE}, ttl=3600, max_bins=2)  # per account

    assert (await store.get_bin(db, first["id"]))["response_status"] == 202
    rows, _ = await store.list_bins(db, "acct-1", 10, None)
    assert {r["name"] for r in rows} == {"a", "b"}

    short = await store.create_bin(db, "acct-3", {"name": None, **RESPONSE}, ttl=0.05, max_bins=2)
    await store.capture(db, short["id"], capture(), 1024, 10)
    await asyncio.sleep(0.1)
    with pytest.raises(NotFound):
        await store.get_bin(db, short["id"])  # expired bins are gone on access at once
    await store.capture(db, "bin_deleted_meanwhile", capture(), 1024, 10)  # raced a bin's deletion
    assert await store.remove_expired(db) == 1
    assert await kit.rows(inspect_requests, inspect_requests.c.bin_id == "bin_deleted_meanwhile") == []
    assert await kit.rows(inspect_bins, inspect_bins.c.id == short["id"]) == []
    assert await kit.rows(inspect_requests, inspect_requests.c.bin_id == short["id"]) == []
    assert len(await kit.rows(inspect_bins)) == 3  # the live ones stay


async def test_capture_bounds_body_and_keeps_the_newest(db: Database, kit: Kit) -> None:
    b = await store.create_bin(db, "acct", {"name": None, **RESPONSE}, ttl=3600, max_bins=5)
    big = await store.capture(db, b["id"], capture(b"x" * 100), max_body=10, max_requests=3)
    assert (big["body"], big["body_size"], big["truncated"]) == ("x" * 10, 100, True)
    binary = bytes(range(256))
    raw = await store.capture(db, b["id"], capture(binary), max_body=1024, max_requests=3)
    stored = await store.get_request(db, b["id"], raw["id"])
    assert stored["body_encoding"] == "base64" and store.decode_body(stored) == binary
    for n in range(3):
        await store.capture(db, b["id"], capture(f'{{"n":{n}}}'.encode()), max_body=1024, max_requests=3)
    kept = await kit.rows(inspect_requests, inspect_requests.c.bin_id == b["id"])
    assert sorted(r["body"] for r in kept) == ['{"n":0}', '{"n":1}', '{"n":2}']


async def test_search_by_text_method_and_time(db: Database) -> None:
    b = await store.create_bin(db, "acct", {"name": None, **RESPONSE}, ttl=3600, max_bins=5)
    one = await store.capture(db, b["id"], capture(b'{"order":"A-17"}', **{"X-Trace": "Zebra"}), 1024, 50)
    await asyncio.sleep(0.02)
    middle = time.time()
    await asyncio.sleep(0.02)
    two = await store.capture(db, b["id"], capture(b"plain 100%_off", method="PUT"), 1024, 50)

    async def ids(search: Search) -> list[str]:
        rows, _ = await store.list_requests(db, b["id"], search, 50, None)
        return [r["id"] for r in rows]

    assert await ids(Search()) == [two["id"], one["id"]]  # newest first
    assert await ids(Search(text="zebra")) == [one["id"]]  # header value, any case
    assert await ids(Search(text="a-17")) == [one["id"]]  # body
    assert await ids(Search(text="100%_")) == [two["id"]]  # LIKE wildcards are literal
    assert await ids(Search(text="nowhere")) == []
    assert await ids(Search(method="put")) == [two["id"]]
    assert await ids(Search(since=middle)) == [two["id"]]
    assert await ids(Search(until=middle)) == [one["id"]]
    assert [r["id"] for r in await store.requests_since(db, b["id"], middle)] == [two["id"]]


async def test_listen_relay_round_trip(db: Database, box: SecretBox, kit: Kit) -> None:
    session = await listen.create_session(db, box, "acct-l", ["order.*"], "standard", "http://localhost/x")
    sub = await kit.one(subscriptions, subscriptions.c.id == session["subscription_id"])
    assert sub["url"] == f"herald-listen://{session['id']}" and sub["event_types"] == ["order.*"]
    assert session["secret"].startswith("whsec_")

    other = MemoryTransport(lambda r: asyncio.sleep(0, Response(299, b"")))
    transport = RoutingTransport(other, ListenRelay(db, timeout=10))
    headers = {"content-type": "application/json", "webhook-id": "del_1"}
    sending = asyncio.create_task(transport.send(Request(sub["url"], b'{"n":1}', headers)))

    async def claimed() -> list[dict[str, object]]:
        for _ in range(200):
            if rows := await listen.claim_pending(db, session["id"]):
                return rows
            await asyncio.sleep(0.02)
        raise AssertionError("the relay wrote no request")

    rows = await claimed()
    assert [(r["headers"], bytes(r["body"])) for r in rows] == [(headers, b'{"n":1}')]  # type: ignore[arg-type]
    assert await listen.claim_pending(db, session["id"]) == []  # handed out once
    reply = listen.Answer(503, {"retry-after": "7"}, b"busy")
    await listen.answer(db, session["id"], str(rows[0]["id"]), reply)
    result = await sending
    assert result == Response(503, b"busy", {"retry-after": "7"})
    assert await kit.rows(listen_requests) == []  # the relay removes its row
    assert other.requests == []  # nothing leaked to the ordinary transport
    assert await transport.send(Request("https://example.com", b"", {})) == Response(299, b"")

    # The CLI reports a local failure: the attempt's error kind is the CLI's.
    sending = asyncio.create_task(transport.send(Request(sub["url"], b"{}", {})))
    rows = await claimed()
    await listen.answer(
        db, session["id"], str(rows[0]["id"]), listen.Answer(None, {}, b"", "refused", "nope")
    )
    failed = await sending
    assert isinstance(failed, TransportError) and failed.kind is ErrorKind.REFUSED


async def test_listen_relay_times_out_and_sees_the_session_end(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    session = await listen.create_session(db, box, "acct-t", ["*"], "standard", None)
    relay = ListenRelay(db, timeout=0.3)
    result = await relay.send(Request(f"herald-listen://{session['id']}", b"{}", {}))
    assert isinstance(result, TransportError) and result.kind is ErrorKind.READ_TIMEOUT
    late = await kit.rows(listen_requests)
    assert late == []  # a late answer finds nothing to answer

    waiting = asyncio.create_task(
        ListenRelay(db, timeout=10).send(Request(f"herald-listen://{session['id']}", b"{}", {}))
    )
    for _ in range(100):
        if await kit.rows(listen_requests):
            break
        await asyncio.sleep(0.02)
    await listen.delete_session(db, session["id"])
    ended = await waiting
    assert isinstance(ended, TransportError) and ended.kind is ErrorKind.NETWORK
    assert await kit.rows(subscriptions, subscriptions.c.id == session["subscription_id"]) == []
    assert await kit.rows(listen_sessions) == []


async def test_stale_listen_sessions_are_removed_with_their_subscription(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    stale = await listen.create_session(db, box, "acct-s", ["*"], "standard", None)
    fresh = await listen.create_session(db, box, "acct-s", ["*"], "standard", None)
    await kit.publish("acct-s", ("evt-1", "a.b"))  # queued for both subscriptions
    await listen.touch(db, fresh["id"])
    assert await listen.remove_stale(db, ttl=60, now=time.time() + 30) == 0
    later = time.time() + 61
    async with db.write() as conn:
        await conn.execute(
            update(listen_sessions).where(listen_sessions.c.id == fresh["id"]).values(seen_at=later)
        )
    assert await listen.remove_stale(db, ttl=60, now=later + 1) == 1
    assert [r["id"] for r in await kit.rows(listen_sessions)] == [fresh["id"]]
    assert await kit.rows(subscriptions, subscriptions.c.id == stale["subscription_id"]) == []
    cancelled = await kit.one(deliveries, deliveries.c.subscription_id == stale["subscription_id"])
    assert cancelled["status"] == "cancelled"
