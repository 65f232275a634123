"""NATS JetStream: a durable pull consumer named after the group, shared by every worker; each message
is acknowledged after its event commits, and JetStream redelivers what is not acknowledged within
`claim_idle` (ack_wait)."""

from __future__ import annotations

from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from herald.sources.consumer import ConsumerOptions, Fetched
from herald.sources.messages import Message
from herald.sources.spec import SourceSpec


class NatsJetStreamConsumer:
    def __init__(self, spec: SourceSpec, options: ConsumerOptions) -> None:
        self.spec = spec
        self.options = options
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.sub: JetStreamContext.PullSubscription | None = None
        self.stream = ""

    async def open(self) -> None:
        self.nc = await nats.connect(self.spec.url, allow_reconnect=True, max_reconnect_attempts=-1)
        self.js = self.nc.jetstream()
        try:
            self.stream = await self.js.find_stream_name_by_subject(self.spec.target)
        except NotFoundError:
            raise RuntimeError(f"no JetStream stream holds the subject {self.spec.target}") from None
        config = ConsumerConfig(
            durable_name=self.spec.group,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.options.claim_idle,
            filter_subject=self.spec.target,
            max_ack_pending=max(1000, self.options.batch * 10),
        )
        self.sub = await self.js.pull_subscribe(
            self.spec.target, durable=self.spec.group, stream=self.stream, config=config
        )

    async def fetch(self) -> Sequence[Fetched]:
        assert self.sub is not None
        try:
            msgs = await self.sub.fetch(self.options.batch, timeout=self.options.poll_timeout)
        except NatsTimeout:
            return []
        out = []
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            out.append(Fetched(Message(f"{self.stream}:{seq}", msg.data), msg))
        return out

    async def ack(self, batch: Sequence[Fetched]) -> None:
        for fetched in batch:
            await fetched.handle.ack()
        if self.nc is not None:
            await self.nc.flush()  # the acks are on the wire before the next fetch

    async def lag(self) -> int | None:
        assert self.sub is not None
        info = await self.sub.consumer_info()
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None
