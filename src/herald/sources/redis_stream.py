"""Redis Streams: a consumer group (XREADGROUP, XACK); entries a dead member left pending are taken
over with XAUTOCLAIM once idle for `claim_idle`. The message is the entry's `event` field (or its only
field)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from herald.sources.consumer import ConsumerOptions, Fetched
from herald.sources.messages import Message
from herald.sources.spec import SourceSpec

EVENT_FIELD = b"event"


def member_name() -> str:
    """A consumer name unique to this process (a restarted worker is a new member)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def body_of(fields: dict[bytes, bytes]) -> bytes:
    if EVENT_FIELD in fields:
        return fields[EVENT_FIELD]
    if len(fields) == 1:
        return next(iter(fields.values()))
    return b""  # not JSON: a dead letter that says so


class RedisStreamConsumer:
    def __init__(self, spec: SourceSpec, options: ConsumerOptions) -> None:
        self.spec = spec
        self.options = options
        self.name = member_name()
        self.client: aioredis.Redis | None = None
        self._claim_from = "0-0"

    async def open(self) -> None:
        self.client = aioredis.from_url(self.spec.url, socket_timeout=self.options.poll_timeout + 10)
        try:
            await self.client.xgroup_create(self.spec.target, self.spec.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _fetched(self, entries: list[Any]) -> list[Fetched]:
        out = []
        for entry_id, fields in entries:
            if fields is None:
                continue  # deleted from the stream while pending
            mid = entry_id.decode()
            out.append(Fetched(Message(f"{self.spec.target}:{mid}", body_of(fields)), mid))
        return out

    async def fetch(self) -> Sequence[Fetched]:
        assert self.client is not None
        s, o = self.spec, self.options
        # Entries a dead member fetched and never acknowledged first, then new ones.
        claimed: list[Any] = await self.client.xautoclaim(
            s.target, s.group, self.name, int(o.claim_idle * 1000), self._claim_from, count=o.batch
        )
        # The cursor to continue from ("0-0" once the pending list has been walked through).
        cursor = claimed[0]
        self._claim_from = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        taken = self._fetched(claimed[1])
        if taken:
            return taken
        answer: Any = await self.client.xreadgroup(
            s.group, self.name, {s.target: ">"}, count=o.batch, block=int(o.poll_timeout * 1000)
        )
        return [f for _, entries in answer or [] for f in self._fetched(entries)]

    async def ack(self, batch: Sequence[Fetched]) -> None:
        assert self.client is not None
        if batch:
            await self.client.xack(self.spec.target, self.spec.group, *[f.handle for f in batch])

    async def lag(self) -> int | None:
        assert self.client is not None
        for group in await self.client.xinfo_groups(self.spec.target):
            if group["name"].decode() == self.spec.group:
                lag = group.get("lag")
                return int(lag or 0) + int(group.get("pending") or 0)
        return None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
