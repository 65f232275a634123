"""The dispatcher end to end over a real database and an in-memory transport."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import REGISTRY
from sqlalchemy import delete
from standardwebhooks import Webhook

from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError
from herald.runtime import running
from herald.store import queue as q
from herald.store.database import Database
from herald.store.deliveries import get_delivery
from herald.store.publish import NewEvent
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, update_subscription
from herald.store.tables import attempts, deliveries, queue, subscriptions

if TYPE_CHECKING:
    from conftest import Kit

Handler = Callable[[Request], Awaitable[Response | TransportError]]
Until = Callable[..., Awaitable[None]]


def make_dispatcher(db: Database, box: SecretBox, handler: Handler, **overrides: Any) -> Dispatcher:
    settings = Settings(
        database_url=db.url, retry_schedule="0.05,0.05", poll_interval=0.01, shutdown_grace=2.0, **overrides
    )
    return Dispatcher(db, EndpointCache(db, box), MemoryTransport(handler), settings)


def sent(dispatcher: Dispatcher) -> list[Request]:
    transport = dispatcher.transport
    assert isinstance(transport, MemoryTransport)
    return transport.requests


async def ok(request: Request) -> Response:
    return Response(200, b"ok")


def all_in(kit: Kit, status: str, *where: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await kit.rows(deliveries, *where)
        return bool(rows) and all(r["status"] == status for r in rows)

    return check


async def test_delivers_everything_signed(db: Database, box: SecretBox, kit: Kit, until: Until) -> None:
    one = await kit.subscription("a1", url="https://one.example/h")
    two = await kit.subscription("a1", url="https://two.example/h", event_types=["order.*"])
    await kit.publish("a1", *[NewEvent(f"e{i}", "order.created", 1.0, f'{{"i":{i}}}') for i in range(5)])
    dispatcher = make_dispatcher(db, box, ok)
    async with running(dispatcher):
        await until(all_in(kit, "delivered"))

    requests = sent(dispatcher)
    assert len(requests) == 10
    secrets = {"https://one.example/h": one["secret"], "https://two.example/h": two["secret"]}
    for request in requests:
        payload = Webhook(secrets[request.url]).verify(request.body, request.headers)
        assert payload["type"] == "order.created"
    rows = await kit.rows(deliveries)
    assert {r["id"] for r in rows} == {r.headers["webhook-id"] for r in requests}
    assert all(r["attempts"] == 1 and r["last_status_code"] == 200 for r in rows)
    assert await q.depth(db) == 0
    assert len(await kit.rows(attempts)) == 10


async def test_failing_then_succeeding_endpoint(db: Database, box: SecretBox, kit: Kit, until: Until) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    calls: Counter[str] = Counter()

    async def flaky(request: Request) -> Response | TransportError:
        calls[request.headers["webhook-id"]] += 1
        n = calls[request.headers["webhook-id"]]
        if n == 1:
            return Response(500, b"oops")
        if n == 2:
            return TransportError(ErrorKind.REFUSED, "connection refused")
        return Response(200, b"ok")

    async with running(make_dispatcher(db, box, flaky)):
        await until(all_in(kit, "delivered"))

    for row in await kit.rows(deliveries):
        got = await get_delivery(db, "a1", row["id"])
        assert got["attempts"] == 3
        assert [(a["status_code"], a["error_kind"]) for a in got["attempt_log"]] == [
            (500, "bad_status"),
            (None, "refused"),
            (200, None),
        ]
    assert set(calls.values()) == {3}


async def test_exhausted_delivery_is_dead(db: Database, box: SecretBox, kit: Kit, until: Until) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))

    async def down(request: Request) -> Response:
        return Response(503, b"down")

    dispatcher = make_dispatcher(db, box, down)
    async with running(dispatcher):
        await until(all_in(kit, "dead"))
    assert len(sent(dispatcher)) == 3  # first attempt + the two scheduled retries
    assert await q.depth(db) == 0
    assert (await kit.one(deliveries))["attempts"] == 3


async def test_deleted_subscription_delivery_is_cancelled(
    db: Database, box: SecretBox, kit: Kit, until: Until
) -> None:
    gone = await kit.subscription("a1", url="https://gone.example/h")
    await kit.subscription("a1", url="https://kept.example/h")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    # The subscription vanishes (another process) while its deliveries are still queued.
    async with db.write() as conn:
        await conn.execute(delete(subscriptions).where(subscriptions.c.id == gone["id"]))

    dispatcher = make_dispatcher(db, box, ok)
    async with running(dispatcher):
        await until(all_in(kit, "cancelled", deliveries.c.subscription_id == gone["id"]))
        await until(all_in(kit, "delivered", deliveries.c.subscription_id != gone["id"]))
    assert all(r.url == "https://kept.example/h" for r in sent(dispatcher))
    assert await q.depth(db) == 0
    assert (
        await kit.rows(
            attempts,
            attempts.c.delivery_id.in_(
                [r["id"] for r in await kit.rows(deliveries, deliveries.c.subscription_id == gone["id"])]
            ),
        )
        == []
    )


async def test_disabled_endpoint_is_not_sent_to(db: Database, box: SecretBox, kit: Kit, until: Until) -> None:
    off = await kit.subscription("a1", url="https://off.example/h")
    on = await kit.subscription("a1", url="https://on.example/h")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"))
    await update_subscription(db, box, Owner(account_id="a1"), off["id"], {"enabled": False})

    dispatcher = make_dispatcher(db, box, ok)
    async with running(dispatcher):
        await until(all_in(kit, "delivered", deliveries.c.subscription_id == on["id"]))
        await asyncio.sleep(0.3)  # give it every chance to misbehave
    assert [r.url for r in sent(dispatcher)] == ["https://on.example/h"] * 3
    held = await kit.rows(deliveries, deliveries.c.subscription_id == off["id"])
    assert [(r["status"], r["attempts"]) for r in held] == [("pending", 0)] * 3
    rows = await kit.rows(queue, queue.c.subscription_id == off["id"])
    assert len(rows) == 3
    assert all(r["attempts"] == 0 for r in rows)


async def test_slow_endpoint_does_not_hold_up_others(
    db: Database, box: SecretBox, kit: Kit, until: Until
) -> None:
    slow = await kit.subscription("a1", url="https://slow.example/h")
    fast = await kit.subscription("a1", url="https://fast.example/h")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(10)])
    gate = asyncio.Event()
    in_flight = Counter[str]()
    peak = Counter[str]()

    async def handler(request: Request) -> Response:
        host = request.url.split("/")[2]
        in_flight[host] += 1
        peak[host] = max(peak[host], in_flight[host])
        try:
            if host == "slow.example":
                await gate.wait()
            return Response(200, b"ok")
        finally:
            in_flight[host] -= 1

    async with running(make_dispatcher(db, box, handler, endpoint_concurrency=2)):
        started = time.monotonic()
        await until(all_in(kit, "delivered", deliveries.c.subscription_id == fast["id"]), within=10)
        assert time.monotonic() - started < 5
        slow_rows = await kit.rows(deliveries, deliveries.c.subscription_id == slow["id"])
        assert all(r["status"] == "pending" for r in slow_rows)
        assert in_flight["slow.example"] == 2  # stuck, but only up to its cap
        gate.set()
        await until(all_in(kit, "delivered"))
    assert peak["slow.example"] <= 2
    assert peak["fast.example"] <= 2


def _deferred(reason: str) -> float:
    return REGISTRY.get_sample_value("herald_deliveries_deferred_total", {"reason": reason}) or 0.0


async def test_full_lane_has_its_rows_handed_back_in_the_claim(
    db: Database, box: SecretBox, kit: Kit, until: Until
) -> None:
    """A lane that stays full (concurrency 1, backlog 4, 20 answers a second) makes the claim hand its
    subscription's rows straight back; every delivery still arrives once, and no attempt is used up."""
    slow = await kit.subscription("a1", url="https://slow.example/h")
    fast = await kit.subscription("a1", url="https://fast.example/h")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(60)])
    held_before, full_before = _deferred("held"), _deferred("lane_full")

    async def handler(request: Request) -> Response:
        if "slow.example" in request.url:
            await asyncio.sleep(0.05)
        return Response(200, b"ok")

    dispatcher = make_dispatcher(db, box, handler, endpoint_concurrency=1, claim_batch=8)
    async with running(dispatcher):
        await until(all_in(kit, "delivered", deliveries.c.subscription_id == fast["id"]), within=10)
        await until(all_in(kit, "delivered"), within=30)
    assert _deferred("lane_full") > full_before  # the first overflow goes back row by row
    assert _deferred("held") > held_before  # then the claim hands the lane's rows back itself
    urls = Counter(r.url for r in sent(dispatcher))
    assert urls == {"https://slow.example/h": 60, "https://fast.example/h": 60}
    rows = await kit.rows(deliveries, deliveries.c.subscription_id == slow["id"])
    assert {r["attempts"] for r in rows} == {1}


async def test_ordered_subscription_delivers_in_publish_order(
    db: Database, box: SecretBox, kit: Kit, until: Until
) -> None:
    await kit.subscription("a1", ordered=True)
    await kit.publish(
        "a1", *[NewEvent(f"e{i}", "t", 1.0, f'{{"i":{i}}}', ordering_key="conv") for i in range(5)]
    )
    seen: list[int] = []
    failed_once = False

    async def handler(request: Request) -> Response:
        nonlocal failed_once
        i = orjson.loads(request.body)["data"]["i"]
        seen.append(i)
        if i == 1 and not failed_once:
            failed_once = True
            return Response(500, b"try again")
        return Response(200, b"ok")

    async with running(make_dispatcher(db, box, handler)):
        await until(all_in(kit, "delivered"))
    assert seen == [0, 1, 1, 2, 3, 4]  # e2 waited for e1's retry


async def test_liveperson_application_subscription(
    db: Database, box: SecretBox, kit: Kit, until: Until
) -> None:
    app = await kit.application()
    await kit.install(app["id"], "le123")
    await kit.subscription(
        application_id=app["id"], profile="liveperson-connector", url="https://lp.example/n"
    )
    await kit.publish("le123", NewEvent("e1", "ms.MessagingEventNotification.ContentEvent", 1.0, '{"seq":1}'))
    dispatcher = make_dispatcher(db, box, ok)
    async with running(dispatcher):
        await until(all_in(kit, "delivered"))
    [request] = sent(dispatcher)
    assert orjson.loads(request.body) == {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [{"seq": 1}]},
    }
    expected = hmac.new(app["client_secret"].encode(), request.body, hashlib.sha1).digest()
    assert request.headers["x-liveperson-signature"] == "sha1=" + base64.b64encode(expected).decode()
    assert request.headers["x-liveperson-client-id"] == app["client_id"]
    assert request.headers["x-liveperson-account-id"] == "le123"
