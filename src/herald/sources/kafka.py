"""Kafka: a consumer group (`group`) on the topic; offsets are committed only after the batch's events
commit, so a worker that dies leaves its partitions' uncommitted messages to the member that takes them
over in the rebalance. The message id is topic:partition:offset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from herald.buses.urls import parse_bus_url
from herald.sources.consumer import ConsumerOptions, Fetched
from herald.sources.messages import Message
from herald.sources.spec import SourceSpec


class KafkaConsumer:
    def __init__(self, spec: SourceSpec, options: ConsumerOptions) -> None:
        self.spec = spec
        self.options = options
        self.consumer: AIOKafkaConsumer | None = None

    async def open(self) -> None:
        url = parse_bus_url(self.spec.url, "kafka")
        self.consumer = AIOKafkaConsumer(
            self.spec.target,
            bootstrap_servers=f"{url.host}:{url.port}",
            group_id=self.spec.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.options.batch,
            # A member that stops heart-beating (SIGKILL) is out of the group after this long.
            session_timeout_ms=max(6000, int(self.options.claim_idle * 1000)),
        )
        await self.consumer.start()

    async def fetch(self) -> Sequence[Fetched]:
        assert self.consumer is not None
        got = await self.consumer.getmany(
            timeout_ms=int(self.options.poll_timeout * 1000), max_records=self.options.batch
        )
        out = []
        for tp, records in got.items():
            for r in records:
                mid = f"{tp.topic}:{tp.partition}:{r.offset}"
                out.append(Fetched(Message(mid, r.value or b""), (tp, r.offset)))
        return out

    async def ack(self, batch: Sequence[Fetched]) -> None:
        assert self.consumer is not None
        offsets: dict[TopicPartition, int] = {}
        for fetched in batch:
            tp, offset = fetched.handle
            offsets[tp] = max(offsets.get(tp, 0), offset + 1)
        if offsets:
            await self.consumer.commit(offsets)

    async def lag(self) -> int | None:
        assert self.consumer is not None
        total = 0
        for tp in self.consumer.assignment():
            high: Any = self.consumer.highwater(tp)
            if high is None:
                continue
            total += max(0, int(high) - await self.consumer.position(tp))
        return total

    async def close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()
