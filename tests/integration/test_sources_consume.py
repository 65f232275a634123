"""Sources against the real buses and both databases: messages become events with their deliveries,
poison goes to dead letters and is acknowledged, nothing is acknowledged before it commits, a dead
member's messages are taken over, and back-pressure stops reading."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from sqlalchemy import func, select

from buskit import KINDS, Bus, make_bus
from herald.sources.backpressure import Gate
from herald.sources.consumer import ConsumerOptions
from herald.sources.messages import Message
from herald.sources.runner import CONSUMERS, consume
from herald.sources.spec import SourceSpec
from herald.store import sources as source_store
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries, events, source_dead_letters

if TYPE_CHECKING:
    from conftest import Kit

Until = Callable[..., Awaitable[None]]
OPTIONS = ConsumerOptions(batch=10, claim_idle=0.5, poll_timeout=0.2)


def good(n: int, account: str = "a1") -> bytes:
    return orjson.dumps({"id": f"m-{n}", "type": "order.created", "account": account, "data": {"n": n}})


POISON = [
    (b"{not json", "not JSON"),
    (orjson.dumps({"account": "a1", "data": {}}), "missing type"),
    (orjson.dumps({"type": "AgentStateChangedEvent", "account": "a1", "data": {"x": 1}}), "schema"),
    (orjson.dumps({"type": "order.created", "data": {"n": 0}}), "unknown account"),
]


@pytest.fixture(params=KINDS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    b = make_bus(request.param)
    await b.setup()
    try:
        yield b
    finally:
        await b.teardown()


async def make_source(db: Database, box: SecretBox, bus: Bus, **fields: Any) -> SourceSpec:
    values = {
        "name": f"src-{bus.target}",
        "kind": bus.kind,
        "url": bus.url,
        "target": bus.target,
        "group_name": "herald",
        "account": None,
        "account_field": "account",
        "type_field": "type",
        "id_field": "id",
        "data_field": "data",
        "ordering_key_field": "ordering_key",
        "enabled": True,
    }
    values.update(fields)
    await source_store.create_source(db, box, values)
    (spec,) = [s for s in await source_store.enabled_specs(db, box) if s.name == values["name"]]
    return spec


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@contextlib.asynccontextmanager
async def consuming(db: Database, spec: SourceSpec, gate: Gate | None = None) -> AsyncIterator[None]:
    async def depth() -> int:
        return 0

    consumer = CONSUMERS[spec.kind](spec, OPTIONS)
    task = asyncio.create_task(consume(db, spec, consumer, gate or Gate(depth, 10**9)))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_messages_become_events_and_poison_dead_letters(
    db: Database, box: SecretBox, kit: Kit, bus: Bus, until: Until
) -> None:
    await kit.subscription("a1", event_types=["order.*"])
    spec = await make_source(db, box, bus)
    await bus.produce([good(i) for i in range(20)] + [body for body, _ in POISON])
    async with consuming(db, spec):
        await until(lambda: _counts_reach(db, spec, 20, len(POISON)), within=20)
        # Acknowledged after commit: nothing stays pending on the bus.
        await until(lambda: _pending_is(bus, spec, 0), within=10)
    assert await count(db, events) == 20
    assert await count(db, deliveries) == 20
    async with db.read() as conn:
        letters = (await conn.execute(select(source_dead_letters))).mappings().all()
        data = await conn.scalar(select(events.c.data).where(events.c.id == "m-7"))
    assert orjson.loads(data) == {"n": 7}
    reasons = sorted(r["reason"] for r in letters)
    assert [any(r.startswith(want) or want in r for r in reasons) for _, want in POISON] == [True] * 4
    assert any(r["raw"] == "{not json" for r in letters)


async def _counts_reach(db: Database, spec: SourceSpec, n_events: int, n_dead: int) -> bool:
    return (
        await count(db, events) >= n_events
        and await count(db, source_dead_letters, source_dead_letters.c.source_id == spec.id) >= n_dead
    )


async def _pending_is(bus: Bus, spec: SourceSpec, n: int) -> bool:
    return await bus.pending(spec.group) == n


async def test_fixed_account_and_dotted_fields(
    db: Database, box: SecretBox, kit: Kit, bus: Bus, until: Until
) -> None:
    await kit.subscription("acme", event_types=["*"], ordered=True)
    spec = await make_source(
        db,
        box,
        bus,
        account="acme",
        account_field=None,
        type_field="meta.kind",
        id_field="meta.uid",
        data_field="body",
        ordering_key_field="meta.conversation",
    )
    body = {"meta": {"kind": "chat.message", "uid": "u-1", "conversation": "c-9"}, "body": {"text": "hi"}}
    await bus.produce([orjson.dumps(body)])
    async with consuming(db, spec):
        await until(lambda: _counts_reach(db, spec, 1, 0), within=20)
    async with db.read() as conn:
        row = (await conn.execute(select(events))).mappings().one()
        dlv = (await conn.execute(select(deliveries))).mappings().one()
    assert (row["id"], row["account_id"], row["type"], row["ordering_key"]) == (
        "u-1",
        "acme",
        "chat.message",
        "c-9",
    )
    assert dlv["event_id"] == "u-1"


async def test_redelivered_batch_is_one_event_each(db: Database, box: SecretBox, kit: Kit) -> None:
    """A batch committed and then delivered again (the ack was lost) adds nothing."""
    from herald.sources.ingest import ingest

    await kit.subscription("a1", event_types=["*"])
    bus = make_bus("redis-stream")
    spec = await make_source(db, box, bus)
    batch = [Message(f"s:{i}-0", good(i)) for i in range(5)] + [Message("s:x", b"oops")]
    first = await ingest(db, spec, batch)
    again = await ingest(db, spec, batch)
    assert (first.created, first.dead_letters) == (5, 1)
    assert (again.created, again.duplicates, again.dead_letters) == (0, 5, 0)
    assert await count(db, events) == 5
    assert await count(db, deliveries) == 5
    assert await count(db, source_dead_letters) == 1


async def test_bus_id_is_the_event_id_without_an_id_field(
    db: Database, box: SecretBox, kit: Kit, bus: Bus, until: Until
) -> None:
    spec = await make_source(db, box, bus)
    body = orjson.dumps({"type": "t.x", "account": "a1", "data": {}})
    await bus.produce([body])
    async with consuming(db, spec):
        await until(lambda: _counts_reach(db, spec, 1, 0), within=20)
    async with db.read() as conn:
        event_id = await conn.scalar(select(events.c.id))
    assert event_id is not None and event_id.startswith(f"{spec.id}:")


async def test_nothing_acknowledged_while_the_commit_fails(
    db: Database, box: SecretBox, bus: Bus, until: Until
) -> None:
    """The database refuses the writes (its tables are gone): the messages stay on the bus, unacked."""
    spec = await make_source(db, box, bus)
    await bus.produce([good(i) for i in range(3)])
    async with db.write() as conn:
        await conn.execute(events.delete())
    from sqlalchemy import text

    async with db.write() as conn:
        await conn.execute(text("ALTER TABLE events RENAME TO events_away"))
    try:
        async with consuming(db, spec):
            await asyncio.sleep(2.0)
    finally:
        async with db.write() as conn:
            await conn.execute(text("ALTER TABLE events_away RENAME TO events"))
    # Redis and JetStream keep them pending on their group; RabbitMQ requeued them when the consumer left.
    await until(lambda: _pending_is(bus, spec, 3), within=10)
    async with consuming(db, spec):
        await until(lambda: _counts_reach(db, spec, 3, 0), within=20)


async def test_back_pressure_stops_and_resumes_reading(
    db: Database, box: SecretBox, bus: Bus, until: Until
) -> None:
    depth = {"value": 50}

    async def queue_depth() -> int:
        return depth["value"]

    gate = Gate(queue_depth, limit=10, interval=0.05)
    watcher = asyncio.create_task(gate.watch())
    spec = await make_source(db, box, bus)
    await bus.produce([good(i) for i in range(3)])
    try:
        async with consuming(db, spec, gate):
            await asyncio.sleep(1.5)
            assert await count(db, events) == 0  # over the bound: not read
            depth["value"] = 5  # drained below the resume mark
            await until(lambda: _counts_reach(db, spec, 3, 0), within=20)
    finally:
        watcher.cancel()


async def test_redis_member_that_died_is_taken_over(db: Database, box: SecretBox, until: Until) -> None:
    """Member A fetches and dies before acking; member B takes its entries over with XAUTOCLAIM."""
    bus = make_bus("redis-stream")
    await bus.setup()
    try:
        spec = await make_source(db, box, bus)
        a = CONSUMERS["redis-stream"](spec, OPTIONS)
        await a.open()
        await bus.produce([good(i) for i in range(4)])
        fetched = await a.fetch()
        assert len(fetched) == 4
        await a.close()  # dead without acking
        async with consuming(db, spec):
            await until(lambda: _counts_reach(db, spec, 4, 0), within=20)
            await until(lambda: _pending_is(bus, spec, 0), within=10)
    finally:
        await bus.teardown()
