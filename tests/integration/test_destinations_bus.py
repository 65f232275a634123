"""Bus destinations against the real brokers: the rendered body and headers arrive as a message, the
broker's refusal and an absent broker are failed attempts with their error kind, the guard applies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import nats
import pytest
import redis.asyncio as aioredis
from nats.js.api import StreamConfig

from buskit import AMQP_URL, NATS_URL, REDIS_URL
from herald.destinations.transport import BusTransport, DestinationRouting
from herald.dispatch.guard import AddressGuard
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError

BODY = b'{"type":"order.created","data":{"n":1}}'
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1", "webhook-signature": "v1,abc"}


@pytest.fixture
async def transport() -> AsyncIterator[BusTransport]:
    t = BusTransport(AddressGuard(allow_private=True), connect_timeout=2.0, read_timeout=2.0)
    try:
        yield t
    finally:
        await t.close()


async def test_redis_stream_gets_body_and_headers_as_fields(transport: BusTransport) -> None:
    stream = f"herald-dest-{uuid.uuid4().hex[:8]}"
    async with aioredis.from_url(REDIS_URL) as client:
        try:
            for _ in range(3):
                result = await transport.send(
                    Request(f"redis://127.0.0.1:6379/{stream}?maxlen=2", BODY, HEADERS)
                )
                assert isinstance(result, Response) and result.status == 200
            entries = await client.xrange(stream)
            assert len(entries) >= 2  # MAXLEN ~ 2: approximately bounded
            fields = entries[-1][1]
            assert fields[b"body"] == BODY
            assert fields[b"webhook-id"] == b"msg_1" and fields[b"webhook-signature"] == b"v1,abc"
        finally:
            await client.delete(stream)


async def test_nats_jetstream_publish_waits_for_the_ack(transport: BusTransport) -> None:
    uid = uuid.uuid4().hex[:8]
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=f"HERALD_DEST_{uid}", subjects=[f"herald.dest.{uid}"]))
    try:
        result = await transport.send(Request(f"nats://127.0.0.1:4222/herald.dest.{uid}", BODY, HEADERS))
        assert isinstance(result, Response), result
        msg = await js.get_last_msg(f"HERALD_DEST_{uid}", f"herald.dest.{uid}")
        assert msg.data == BODY
        assert msg.headers is not None and msg.headers["webhook-id"] == "msg_1"
        # No stream holds this subject: the broker refuses the message.
        refused = await transport.send(Request(f"nats://127.0.0.1:4222/herald.nostream.{uid}", BODY, HEADERS))
        assert isinstance(refused, TransportError) and refused.kind is ErrorKind.BROKER_REFUSED
    finally:
        await js.delete_stream(f"HERALD_DEST_{uid}")
        await nc.close()


async def test_amqp_publisher_confirms_and_unroutable_is_refused(transport: BusTransport) -> None:
    queue_name = f"herald-dest-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name, durable=True)
    base = "amqp://guest:guest@127.0.0.1:5672/"
    try:
        result = await transport.send(Request(f"{base}?exchange=&routing_key={queue_name}", BODY, HEADERS))
        assert isinstance(result, Response), result
        message = await queue.get(timeout=5)
        assert message is not None and message.body == BODY
        assert message.headers["webhook-id"] == "msg_1" and message.message_id == "msg_1"
        await message.ack()
        unroutable = await transport.send(Request(f"{base}?routing_key=nobody-{queue_name}", BODY, HEADERS))
        assert isinstance(unroutable, TransportError) and unroutable.kind is ErrorKind.BROKER_REFUSED
        no_exchange = await transport.send(
            Request(f"{base}?exchange=missing-{queue_name}&routing_key=x", BODY, HEADERS)
        )
        assert isinstance(no_exchange, TransportError) and no_exchange.kind is ErrorKind.BROKER_REFUSED
        # The publisher is still usable after the refusals.
        again = await transport.send(Request(f"{base}?routing_key={queue_name}", BODY, HEADERS))
        assert isinstance(again, Response), again
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/s",
        "nats://127.0.0.1:1/s",
        "amqp://guest:guest@127.0.0.1:1/?routing_key=k",
    ],
)
async def test_nobody_listening_is_refused(transport: BusTransport, url: str) -> None:
    result = await transport.send(Request(url, BODY, HEADERS))
    assert isinstance(result, TransportError) and result.kind is ErrorKind.REFUSED, result


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/s", "nats://127.0.0.1:4222/s", "amqp://guest:guest@[::1]:5672/?routing_key=k"],
)
async def test_the_address_guard_applies_to_bus_hosts(url: str) -> None:
    guarded = BusTransport(AddressGuard(), connect_timeout=2.0, read_timeout=2.0)
    try:
        result = await guarded.send(Request(url, BODY, HEADERS))
    finally:
        await guarded.close()
    assert isinstance(result, TransportError) and result.kind is ErrorKind.BLOCKED_TARGET, result


async def test_routing_sends_bus_urls_to_the_bus_and_the_rest_to_http(transport: BusTransport) -> None:
    async def ok(_: Request) -> Response:
        return Response(204, b"")

    http = MemoryTransport(ok)
    routing = DestinationRouting(http, transport)
    stream = f"herald-dest-{uuid.uuid4().hex[:8]}"
    try:
        assert isinstance(await routing.send(Request("https://example.com/hook", BODY, HEADERS)), Response)
        assert isinstance(
            await routing.send(Request(f"redis://127.0.0.1:6379/{stream}", BODY, HEADERS)), Response
        )
        assert [r.url for r in http.requests] == ["https://example.com/hook"]
    finally:
        async with aioredis.from_url(REDIS_URL) as client:
            await client.delete(stream)
