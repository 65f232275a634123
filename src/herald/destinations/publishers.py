"""One publisher per bus kind: connect once per server (pooled by the transport), publish one rendered
delivery and wait for the broker to take it (XADD's reply, the JetStream ack, the publisher confirm)."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import aio_pika
import nats
import redis.asyncio as aioredis
from aio_pika.abc import AbstractChannel, AbstractConnection
from nats.aio.client import Client
from nats.errors import NoServersError

from herald.buses.urls import BusURL
from herald.destinations.urls import redis_maxlen


class Publisher(Protocol):
    async def publish(self, url: BusURL, body: bytes, headers: dict[str, str], wait: float) -> None: ...

    async def close(self) -> None: ...


class RedisPublisher:
    """XADD <stream> MAXLEN ~ <bound>: the body in field `body`, each header in a field of its name."""

    def __init__(self, server: str, connect_timeout: float, timeout: float) -> None:
        self.client = aioredis.from_url(
            server, socket_connect_timeout=connect_timeout, socket_timeout=timeout, retry_on_timeout=False
        )

    async def publish(self, url: BusURL, body: bytes, headers: dict[str, str], wait: float) -> None:
        fields: dict[Any, Any] = dict(headers)
        fields["body"] = body
        await self.client.xadd(url.path, fields, maxlen=redis_maxlen(url), approximate=True)

    async def close(self) -> None:
        await self.client.aclose()


class NatsPublisher:
    """A JetStream publish to the subject, with the headers as NATS headers, waiting for the stream's ack
    (no stream on the subject: the broker refuses, a failed attempt)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @classmethod
    async def connect(cls, server: str, connect_timeout: float) -> NatsPublisher:
        seen: list[Exception] = []

        async def remember(exc: Exception) -> None:
            seen.append(exc)

        try:
            # One try (nats-py's initial connect otherwise waits and retries): the attempt fails, the
            # delivery retries on its schedule.
            client = await nats.connect(
                server,
                connect_timeout=connect_timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.05,
                allow_reconnect=False,
                error_cb=remember,
            )
        except NoServersError as exc:
            raise (seen[-1] if seen else exc) from None  # the cause: refused, timed out, DNS…
        return cls(client)

    async def publish(self, url: BusURL, body: bytes, headers: dict[str, str], wait: float) -> None:
        await self.client.jetstream().publish(url.path, body, timeout=wait, headers=headers)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()


class AmqpPublisher:
    """A persistent message to the exchange with the routing key, headers as AMQP headers; mandatory, so
    an unroutable message is a failure, and confirmed by the broker."""

    def __init__(self, connection: AbstractConnection, channel: AbstractChannel) -> None:
        self.connection = connection
        self.channel = channel

    @classmethod
    async def connect(cls, server: str, connect_timeout: float) -> AmqpPublisher:
        # Not connect_robust: a failure is the attempt's, and the transport connects afresh next time.
        connection = await aio_pika.connect(server, timeout=connect_timeout)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return cls(connection, channel)

    async def publish(self, url: BusURL, body: bytes, headers: dict[str, str], wait: float) -> None:
        name = url.query.get("exchange", "")
        exchange = (
            self.channel.default_exchange if not name else await self.channel.get_exchange(name, ensure=False)
        )
        message = aio_pika.Message(
            body,
            headers=dict(headers),
            content_type=headers.get("content-type"),
            message_id=headers.get("webhook-id"),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await exchange.publish(message, routing_key=url.query["routing_key"], mandatory=True, timeout=wait)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()
