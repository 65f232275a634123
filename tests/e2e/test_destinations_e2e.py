"""Bus destinations in a running Herald: an event published over HTTP reaches a Redis stream, a JetStream
subject and a RabbitMQ queue as the profile's signed body with its headers, through the delivery log; a
broker that refuses is a failed attempt with its error kind, retried; bad bus URLs are 422 on `url`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aio_pika
import nats
import redis.asyncio as aioredis
from e2e_harness import Api, unique, wait_until
from nats.js.api import StreamConfig
from standardwebhooks import Webhook

from buskit import AMQP_URL, NATS_URL, REDIS_URL


def _publish(api: Api, account: str, n: int) -> str:
    event_id = unique("evt")
    api.publish(account, {"id": event_id, "type": "order.created", "data": {"n": n}})
    return event_id


def test_redis_stream_destination(api: Api, account: str) -> None:
    stream = f"herald-e2e-{uuid.uuid4().hex[:8]}"
    sub = api.account_subscription(account, f"redis://127.0.0.1:6379/{stream}?maxlen=1000", ["order.*"])
    event_id = _publish(api, account, 1)
    detail = api.settled(account, event_id=event_id, timeout=20)
    assert detail["status"] == "delivered" and detail["attempt_log"][0]["error_kind"] is None

    async def read() -> list[Any]:
        async with aioredis.from_url(REDIS_URL) as client:
            entries = await client.xrange(stream)
            await client.delete(stream)
            return list(entries)

    ((_, fields),) = asyncio.run(read())
    headers = {k.decode(): v.decode() for k, v in fields.items() if k != b"body"}
    body = fields[b"body"]
    assert headers["content-type"] == "application/json"
    # The bytes signed are the bytes sent: the stream entry verifies with the subscription's secret.
    assert Webhook(sub["secret"]).verify(body, headers)["data"] == {"n": 1}


def test_nats_and_amqp_destinations(api: Api, account: str) -> None:
    uid = uuid.uuid4().hex[:8]
    subject, queue_name = f"herald.e2e.{uid}", f"herald-e2e-{uid}"

    async def setup() -> None:
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().add_stream(StreamConfig(name=f"HERALD_E2E_{uid}", subjects=[subject]))
        await nc.close()
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        await channel.declare_queue(queue_name, durable=True)
        await connection.close()

    async def read() -> tuple[bytes, bytes]:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        msg = await js.get_last_msg(f"HERALD_E2E_{uid}", subject)
        await js.delete_stream(f"HERALD_E2E_{uid}")
        await nc.close()
        connection = await aio_pika.connect(AMQP_URL)
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        message = await queue.get(timeout=5)
        assert message is not None
        await message.ack()
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()
        return msg.data, message.body

    asyncio.run(setup())
    api.account_subscription(account, f"nats://127.0.0.1:4222/{subject}", ["order.*"])
    api.account_subscription(
        account, f"amqp://guest:guest@127.0.0.1:5672/?exchange=&routing_key={queue_name}", ["order.*"]
    )
    event_id = _publish(api, account, 2)

    def both_delivered() -> list[dict[str, Any]] | None:
        rows = api.deliveries(account, event_id=event_id)
        return rows if len(rows) == 2 and all(r["status"] == "delivered" for r in rows) else None

    wait_until("both bus deliveries", both_delivered, 20)
    nats_body, amqp_body = asyncio.run(read())
    assert b'"n":2' in nats_body and nats_body == amqp_body


def test_a_refusing_broker_is_a_failed_attempt_retried(api: Api, account: str) -> None:
    subject = f"herald.nostream.{uuid.uuid4().hex[:8]}"  # no JetStream stream holds it
    api.account_subscription(account, f"nats://127.0.0.1:4222/{subject}", ["order.*"], max_retries=1)
    event_id = _publish(api, account, 3)
    detail = api.settled(account, event_id=event_id, timeout=30)
    assert detail["status"] == "dead"
    kinds = [a["error_kind"] for a in detail["attempt_log"]]
    assert kinds == ["broker_refused", "broker_refused"]


def test_bad_bus_urls_are_refused_on_url(api: Api, account: str) -> None:
    for url in (
        "redis://127.0.0.1:6379/",  # no stream
        "nats://127.0.0.1:4222/orders.*",  # a wildcard
        "amqp://guest:guest@127.0.0.1:5672/?exchange=x",  # no routing key
        "redis://127.0.0.1:6379/s?maxlen=0",
        "redis://127.0.0.1:6379/s?colour=blue",
    ):
        error = api.expect(
            422,
            "POST",
            f"/v1/accounts/{account}/subscriptions",
            json={"url": url, "event_types": ["order.*"]},
        )["error"]
        assert error["data"]["field"] == "url", (url, error)
