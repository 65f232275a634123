"""LivePerson TTL installations on both backends: transitions persisted with their history, events held
while FAILED, stored events released in order per conversation, the drain period, and a real dispatcher
driving the whole cycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import update

from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import ClaimedDelivery, Request, Response
from herald.domain.ttl import DRAIN_WAIT, HELD_AT
from herald.runtime import running
from herald.store import queue as q
from herald.store import ttl
from herald.store.database import Database
from herald.store.publish import NewEvent
from herald.store.secretbox import SecretBox
from herald.store.tables import (
    deliveries,
    installation_transitions,
    installations,
    queue,
    ttl_drain_conversations,
)

if TYPE_CHECKING:
    from conftest import Kit

Until = Callable[..., Awaitable[None]]


def ev(event_id: str, conversation: str | None) -> NewEvent:
    return NewEvent(
        event_id,
        "cqm.ExConversationChangeNotification",
        1.0,
        orjson.dumps({"id": event_id}).decode(),
        conversation,
    )


async def ttl_app(
    kit: Kit, account: str = "a1", max_retries: int | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    app = await kit.application()
    inst = await kit.install(app["id"], account, retention_time=600)
    sub = await kit.subscription(
        None, application_id=app["id"], profile="liveperson-connector", max_retries=max_retries
    )
    return app, inst, sub


def outcome(c: ClaimedDelivery, ok: bool, at: float | None = None) -> ttl.Outcome:
    return ttl.Outcome(c.account_id, c.subscription_id, time.time() if at is None else at, ok, c.max_retries)


async def state_of(kit: Kit, inst: dict[str, Any]) -> str:
    return str((await kit.one(installations, installations.c.id == inst["id"]))["state"])


async def queued(kit: Kit) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in await kit.rows(queue)}


async def test_the_whole_cycle_is_persisted_with_held_and_ordered_events(kit: Kit, db: Database) -> None:
    _, inst, _ = await ttl_app(kit)
    await kit.publish("a1", ev("e1", "c1"), ev("e2", "c1"), ev("e3", "c2"))
    rows = await queued(kit)
    assert {r["ordering_key"] for r in rows.values()} == {"c1", "c2"}  # TTL rows keep conversation order

    first = {c.event_id: c for c in await q.claim(db, 10, 30)}
    assert set(first) == {"e1", "e3"}  # e2 waits behind e1, its conversation's head
    await q.record(db, [kit.failure(first["e1"], time.time() + 60), kit.record(first["e3"])])
    moved = await ttl.report(db, [outcome(first["e1"], False), outcome(first["e3"], True)], 30)
    assert [(t.old, t.new) for t in moved] == [("UP", "FAILED")]
    assert await state_of(kit, inst) == "FAILED"
    rows = await queued(kit)
    assert rows["e2"]["available_at"] == HELD_AT  # stored
    assert rows["e1"]["available_at"] < HELD_AT  # the failed one keeps retrying: the probe

    await kit.publish("a1", ev("e4", "c3"))  # published while FAILED: stored at once
    assert (await queued(kit))["e4"]["available_at"] == HELD_AT
    await kit.expire_leases(queue.c.event_id == "e1")
    probe = await q.claim(db, 10, 30)
    assert [c.event_id for c in probe] == ["e1"]  # nothing stored is attempted
    await q.record(db, [kit.record(probe[0])])
    moved = await ttl.report(db, [outcome(probe[0], True)], 30)
    assert [(t.old, t.new) for t in moved] == [("FAILED", "IN_TRANSITION")]
    rows = await queued(kit)
    assert all(r["available_at"] <= time.time() for r in rows.values())  # released
    drains = {r["ordering_key"] for r in await kit.rows(ttl_drain_conversations)}
    assert drains == {"c1", "c3"}  # the conversations that were in the store

    await kit.publish("a1", ev("e5", "c1"), ev("e6", "c9"))  # c1 is stored: behind e2; c9 is new
    resent = {c.event_id for c in await q.claim(db, 10, 30)}
    assert resent == {"e2", "e4", "e6"}  # e5 waits for e2
    assert await ttl.tick(db, 30) == []  # the store is not empty yet
    await q.record(db, [kit.record(c) for c in await _claimed(db, kit, resent)])
    rest = await q.claim(db, 10, 30)
    assert [c.event_id for c in rest] == ["e5"]
    await q.record(db, [kit.record(rest[0])])

    moved = await ttl.tick(db, 30)
    assert [(t.old, t.new) for t in moved] == [("IN_TRANSITION", "RECOVERED")]
    row = await kit.one(installations, installations.c.id == inst["id"])
    assert row["drain_until"] is not None and row["drain_until"] > time.time() + 20
    before = time.time()
    await kit.publish("a1", ev("e7", "c1"), ev("e8", "c10"))  # c1 drains: waits 4 s; c10 does not
    rows = await queued(kit)
    assert rows["e7"]["available_at"] >= before + DRAIN_WAIT
    assert rows["e8"]["available_at"] <= time.time()

    assert await ttl.tick(db, 30) == []  # the drain period is not over
    moved = await ttl.tick(db, 30, now=row["drain_until"] + 0.1)
    assert [(t.old, t.new) for t in moved] == [("RECOVERED", "UP")]
    assert await kit.rows(ttl_drain_conversations) == []
    history = sorted(await kit.rows(installation_transitions), key=lambda r: r["created_at"])
    assert [(h["from_state"], h["to_state"], h["reason"]) for h in history] == [
        ("UP", "FAILED", "delivery_failed"),
        ("FAILED", "IN_TRANSITION", "endpoints_answer"),
        ("IN_TRANSITION", "RECOVERED", "store_empty"),
        ("RECOVERED", "UP", "drain_ended"),
    ]
    assert all(h["installation_id"] == inst["id"] and h["account_id"] == "a1" for h in history)
    page, cursor = await ttl.transitions(db, inst["id"], 3, None)
    assert [p["to_state"] for p in page] == ["UP", "RECOVERED", "IN_TRANSITION"] and cursor
    page, cursor = await ttl.transitions(db, inst["id"], 3, cursor)
    assert [p["to_state"] for p in page] == ["FAILED"] and cursor is None


async def _claimed(db: Database, kit: Kit, ids: set[str]) -> list[ClaimedDelivery]:
    """The claimed rows of these events again (their leases are ours: claim them afresh)."""
    await kit.expire_leases(queue.c.event_id.in_(ids))
    return [c for c in await q.claim(db, 20, 30) if c.event_id in ids]


async def test_failures_during_recovery_go_back_to_failed_and_store_again(kit: Kit, db: Database) -> None:
    _, inst, _ = await ttl_app(kit)
    for old in ("IN_TRANSITION", "RECOVERED"):
        async with db.write() as conn:
            await conn.execute(update(installations).values(state=old, state_changed_at=time.time()))
        await kit.publish("a1", ev(f"x-{old}", "k"), ev(f"y-{old}", f"other-{old}"))
        claimed = [c for c in await q.claim(db, 10, 30) if c.event_id == f"x-{old}"]
        await q.record(db, [kit.failure(claimed[0], time.time() + 60)])
        moved = await ttl.report(db, [outcome(claimed[0], False)], 30)
        assert [(t.old, t.new) for t in moved] == [(old, "FAILED")]
        assert (await queued(kit))[f"y-{old}"]["available_at"] == HELD_AT
        await kit.expire_leases()
        async with db.write() as conn:
            await conn.execute(update(queue).values(available_at=time.time()))
        await q.record(db, [kit.record(c) for c in await q.claim(db, 10, 30)])
    assert await state_of(kit, inst) == "FAILED"


async def test_an_explicit_max_retries_zero_does_not_fail_the_installation(kit: Kit, db: Database) -> None:
    _, inst, _ = await ttl_app(kit, max_retries=0)
    await kit.publish("a1", ev("e1", "c1"))
    (claimed,) = await q.claim(db, 10, 30)
    assert claimed.max_retries == 0 and claimed.retention_time == 600
    await q.record(db, [kit.failure(claimed, None)])
    assert await ttl.report(db, [outcome(claimed, False)], 30) == []
    assert await state_of(kit, inst) == "UP"
    assert (await kit.one(deliveries))["status"] == "dead"


async def test_concurrent_reports_move_the_installation_once(kit: Kit, db: Database) -> None:
    _, inst, _ = await ttl_app(kit)
    await kit.publish("a1", *[ev(f"e{i}", f"c{i}") for i in range(6)])
    claimed = await q.claim(db, 10, 30)
    reports = [ttl.report(db, [outcome(c, False)], 30) for c in claimed]
    moved = [t for batch in await asyncio.gather(*reports) for t in batch]
    assert len(moved) == 1 and (moved[0].old, moved[0].new) == ("UP", "FAILED")
    assert len(await kit.rows(installation_transitions)) == 1
    assert await state_of(kit, inst) == "FAILED"


async def test_a_failed_installation_without_a_probe_gets_one(kit: Kit, db: Database) -> None:
    _, inst, _ = await ttl_app(kit)
    async with db.write() as conn:
        await conn.execute(update(installations).values(state="FAILED", state_changed_at=time.time()))
    await kit.publish("a1", ev("e1", "c1"), ev("e2", "c2"))
    assert all(r["available_at"] == HELD_AT for r in (await queued(kit)).values())
    assert await ttl.tick(db, 30) == []
    rows = await queued(kit)
    assert rows["e1"]["available_at"] <= time.time() and rows["e2"]["available_at"] == HELD_AT
    await ttl.tick(db, 30)  # a probe exists: nothing more is released
    assert (await queued(kit))["e2"]["available_at"] == HELD_AT
    assert await state_of(kit, inst) == "FAILED"


async def test_switching_ttl_off_releases_the_store(kit: Kit, db: Database) -> None:
    await ttl_app(kit)
    async with db.write() as conn:
        await conn.execute(update(installations).values(state="FAILED", state_changed_at=time.time()))
    await kit.publish("a1", ev("e1", "c1"))
    async with db.write() as conn:
        await conn.execute(update(installations).values(retention_time=None))
    moved = await ttl.tick(db, 30)
    assert [(t.old, t.new, t.reason) for t in moved] == [("FAILED", "UP", "ttl_off")]
    assert (await queued(kit))["e1"]["available_at"] <= time.time()


async def test_a_dispatcher_runs_the_cycle_and_resends_in_order(
    kit: Kit, db: Database, box: SecretBox, until: Until
) -> None:
    _, inst, _ = await ttl_app(kit)
    answering = asyncio.Event()
    arrived: list[tuple[str, str]] = []

    async def receiver(request: Request) -> Response:
        if not answering.is_set():
            return Response(503, b"down")
        body = orjson.loads(request.body)
        change = body["body"]["changes"][0]
        arrived.append((change["conv"], change["id"]))
        return Response(200, b"ok")

    settings = Settings(
        database_url=db.url,
        poll_interval=0.01,
        shutdown_grace=2.0,
        liveperson_ttl_backoff=0.1,
        liveperson_drain_period=0.3,
        liveperson_ttl_check=0.05,
    )
    dispatcher = Dispatcher(db, EndpointCache(db, box), MemoryTransport(receiver), settings)

    def event(i: int, conv: str) -> NewEvent:
        return NewEvent(
            f"e{i}", "cqm.ExConversationChangeNotification", 1.0, f'{{"id":"e{i}","conv":"{conv}"}}', conv
        )

    async with running(dispatcher):
        await kit.publish("a1", *[event(i, f"c{i % 3}") for i in range(9)])

        async def failed() -> bool:
            return await state_of(kit, inst) == "FAILED"

        await until(failed)
        await kit.publish("a1", *[event(i, f"c{i % 4}") for i in range(9, 17)])
        await asyncio.sleep(0.3)
        answering.set()

        async def back_up() -> bool:
            return await state_of(kit, inst) == "UP" and len(await kit.rows(queue)) == 0

        await until(back_up, within=20)
    history = sorted(await kit.rows(installation_transitions), key=lambda r: r["created_at"])
    states = [h["to_state"] for h in history]
    assert states[0] == "FAILED" and states[-2:] == ["RECOVERED", "UP"] and "IN_TRANSITION" in states
    ids = [i for _, i in arrived]
    assert sorted(set(ids), key=lambda s: int(s[1:])) == [f"e{i}" for i in range(17)]  # no loss
    for conv in ("c0", "c1", "c2", "c3"):
        mine = [int(i[1:]) for c, i in arrived if c == conv]
        assert mine == sorted(mine), (conv, mine)  # in publish order per conversation
    assert all(r["status"] == "delivered" for r in await kit.rows(deliveries))


async def test_time_to_live_is_the_connectors_own_or_its_installations(kit: Kit, db: Database) -> None:
    app, _, connector = await ttl_app(kit)
    standard = await kit.subscription(None, application_id=app["id"])  # same TTL installation
    own = await kit.subscription("a1", profile="liveperson-connector", retention_time=30)
    plain = await kit.subscription("a1", profile="liveperson-connector")
    await kit.publish("a1", ev("e1", "conv-1"))
    got = {r["subscription_id"]: (r["retention_time"], r["ordering_key"]) for r in await kit.rows(queue)}
    assert got == {
        connector["id"]: (600, "conv-1"),  # the installation's TTL: ordered per conversation
        own["id"]: (30, "conv-1"),  # its own TTL
        plain["id"]: (None, None),  # by count: best-effort order
        standard["id"]: (600, None),  # other profiles do not retry by time to live, nor keep order
    }
    # A failure of the standard subscription says nothing about the LivePerson installation.
    claimed = {c.subscription_id: c for c in await q.claim(db, 10, 30)}
    assert await ttl.report(db, [outcome(claimed[standard["id"]], False)], 30) == []
