"""Runs every enabled source inside `herald serve` and `herald worker`: one task per source, started,
stopped and restarted as sources are created, disabled, changed or deleted (looked up every `refresh`
seconds). Each worker is one member of each source's consumer group, so more workers read faster."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from herald.sources import metrics
from herald.sources.amqp import AmqpConsumer
from herald.sources.backpressure import Gate
from herald.sources.consumer import Consumer, ConsumerOptions, Fetched
from herald.sources.ingest import ingest
from herald.sources.kafka import KafkaConsumer
from herald.sources.nats_jetstream import NatsJetStreamConsumer
from herald.sources.redis_stream import RedisStreamConsumer
from herald.sources.spec import SourceSpec
from herald.store import sources as store
from herald.store.database import Database
from herald.store.secretbox import SecretBox

log = logging.getLogger("herald.sources")

CONSUMERS: dict[str, Callable[[SourceSpec, ConsumerOptions], Consumer]] = {
    "redis-stream": RedisStreamConsumer,
    "nats-jetstream": NatsJetStreamConsumer,
    "amqp": AmqpConsumer,
    "kafka": KafkaConsumer,
}
RETRY_MAX = 10.0  # seconds between attempts while a bus or the database is away
LAG_INTERVAL = 5.0


async def consume(
    db: Database,
    spec: SourceSpec,
    consumer: Consumer,
    gate: Gate,
    notify: Callable[[], None] | None = None,
) -> None:
    """Fetch → commit → acknowledge, forever. A batch that cannot be committed is retried as it is and
    never acknowledged before it commits; a consumer that fails is reopened."""
    loop = asyncio.get_running_loop()
    next_lag = 0.0
    delay = 0.5
    while True:
        try:
            await consumer.open()
            delay = 0.5
            while True:
                await gate.open.wait()
                batch = await consumer.fetch()
                if batch:
                    await _commit(db, spec, batch, notify)
                    await consumer.ack(batch)
                if loop.time() >= next_lag:
                    next_lag = loop.time() + LAG_INTERVAL
                    lag = await consumer.lag()
                    if lag is not None:
                        metrics.LAG.labels(spec.name).set(lag)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.error(spec.name)
            log.warning("source %s: %s; reconnecting in %.1f s", spec.name, exc, delay)
        finally:
            with contextlib.suppress(Exception):
                await consumer.close()
        await asyncio.sleep(delay)
        delay = min(RETRY_MAX, delay * 2)


async def _commit(
    db: Database, spec: SourceSpec, batch: Sequence[Fetched], notify: Callable[[], None] | None
) -> None:
    delay = 0.5
    while True:
        try:
            await ingest(db, spec, [f.message for f in batch], notify)
            return
        except Exception:
            metrics.error(spec.name)
            log.exception("source %s: committing %d messages failed; retrying", spec.name, len(batch))
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)


class SourceRunner:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        gate: Gate,
        options: ConsumerOptions,
        refresh: float = 5.0,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.gate = gate
        self.options = options
        self.refresh = refresh
        self.notify = notify
        self.tasks: dict[str, tuple[SourceSpec, asyncio.Task[None]]] = {}

    async def sync(self) -> None:
        """Start new and changed sources, stop removed and disabled ones."""
        wanted = {s.id: s for s in await store.enabled_specs(self.db, self.box)}
        for source_id, (spec, task) in list(self.tasks.items()):
            if wanted.get(source_id) != spec:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                del self.tasks[source_id]
        for source_id, spec in wanted.items():
            if source_id not in self.tasks and spec.kind in CONSUMERS:
                consumer = CONSUMERS[spec.kind](spec, self.options)
                task = asyncio.create_task(consume(self.db, spec, consumer, self.gate, self.notify))
                self.tasks[source_id] = (spec, task)

    async def run(self) -> None:
        watch = asyncio.create_task(self.gate.watch())
        try:
            while True:
                try:
                    await self.sync()
                except Exception:
                    log.warning("loading sources failed; will try again", exc_info=True)
                await asyncio.sleep(self.refresh)
        finally:
            watch.cancel()
            for _, task in self.tasks.values():
                task.cancel()
            for _, task in self.tasks.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.tasks.clear()
