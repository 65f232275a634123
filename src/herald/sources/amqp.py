"""AMQP 0-9-1 (RabbitMQ): a durable queue consumed with manual acknowledgement and a prefetch of one
batch; the broker hands unacknowledged messages to another consumer when a connection dies. The message
id is the AMQP message-id property, else a digest of the body."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from herald.sources.consumer import ConsumerOptions, Fetched
from herald.sources.messages import Message
from herald.sources.spec import SourceSpec


def message_id(msg: AbstractIncomingMessage) -> str:
    return msg.message_id or "sha256-" + hashlib.sha256(msg.body).hexdigest()[:40]


class AmqpConsumer:
    def __init__(self, spec: SourceSpec, options: ConsumerOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection: AbstractRobustConnection | None = None
        self.queue: AbstractQueue | None = None
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self.tag: str | None = None

    async def open(self) -> None:
        self.connection = await aio_pika.connect_robust(self.spec.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=self.options.batch)
        self.queue = await channel.declare_queue(self.spec.target, durable=True)
        self.tag = await self.queue.consume(self.inbox.put)

    async def fetch(self) -> Sequence[Fetched]:
        try:
            first = await asyncio.wait_for(self.inbox.get(), self.options.poll_timeout)
        except TimeoutError:
            return []
        msgs = [first]
        while len(msgs) < self.options.batch and not self.inbox.empty():
            msgs.append(self.inbox.get_nowait())
        return [Fetched(Message(message_id(m), m.body), m) for m in msgs]

    async def ack(self, batch: Sequence[Fetched]) -> None:
        for fetched in batch:
            await fetched.handle.ack()

    async def lag(self) -> int | None:
        assert self.queue is not None
        declared = await self.queue.declare()
        count = declared.message_count
        return None if count is None else int(count)

    async def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()
            self.connection = None
