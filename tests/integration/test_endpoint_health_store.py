"""Endpoint health persisted by the recorder's batch transaction (shared by every worker), manual
enable/disable with their operational events, and the attempt statistics of the health view."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import jsonschema
import orjson
from sqlalchemy import update

from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.transport import MemoryTransport
from herald.domain import operational as operational_types
from herald.domain.health import HealthPolicy
from herald.domain.models import AttemptRecord, ClaimedDelivery, ErrorKind, Request, Response
from herald.domain.ttl import HELD_AT
from herald.runtime import running
from herald.store import endpoint_health, operational, queue
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner
from herald.store.tables import deliveries, operational_events, subscriptions
from herald.store.tables import queue as queue_table

if TYPE_CHECKING:
    from conftest import Kit

POLICY = HealthPolicy(failing_after=2, failure_window=0)


def _gone(kit: Kit, claimed: ClaimedDelivery) -> AttemptRecord:
    """The endpoint answered 410 Gone (a retry was scheduled, but 410 disables the endpoint)."""
    return kit.record(
        claimed,
        succeeded=False,
        status_code=410,
        error_kind=ErrorKind.BAD_STATUS,
        next_attempt_at=time.time() + 5,
    )


async def _types(kit: Kit) -> list[str]:
    rows = await kit.rows(operational_events)
    return sorted(r["type"] for r in rows)


async def test_failures_from_two_batches_share_one_streak_and_announce_failing_once(
    db: Database, kit: Kit
) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"))
    c1, c2, c3 = await queue.claim(db, 10, 30)
    later = time.time() + 60
    await queue.record(db, [kit.failure(c1, later)], POLICY)  # "worker one"
    await queue.record(db, [kit.failure(c2, later), kit.failure(c3, later)], POLICY)  # "worker two"
    row = await kit.one(subscriptions, subscriptions.c.id == sub["id"])
    assert row["consecutive_failures"] == 3 and row["failing"] is True and row["enabled"] is True
    assert row["first_failure_at"] is not None and row["last_failure_at"] >= row["first_failure_at"]
    assert await _types(kit) == ["message.attempt.failing"]
    [event] = await kit.rows(operational_events)
    data = orjson.loads(event["data"])
    assert data["consecutive_failures"] == 2 and data["delivery_id"] == c2.delivery_id
    assert event["account_id"] == "a1" and event["application_id"] is None

    await kit.expire_leases()
    c = (await queue.claim(db, 10, 30))[0]
    await queue.record(db, [kit.record(c)], POLICY)
    row = await kit.one(subscriptions, subscriptions.c.id == sub["id"])
    assert (row["consecutive_failures"], row["failing"], row["first_failure_at"]) == (0, False, None)
    assert await _types(kit) == ["message.attempt.failing", "message.attempt.recovered"]


async def test_410_disables_and_exhausted_goes_to_the_operational_url(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    app = await kit.application()
    await kit.install(app["id"], "a1")
    await operational.configure(db, box, app["id"], "https://ops.example.com/")
    sub = await kit.subscription(None, application_id=app["id"])
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    first, second = await queue.claim(db, 10, 30)
    # The second fails with no retry left: dead, exhausted.
    await queue.record(db, [_gone(kit, first), kit.failure(second, None)], POLICY)
    row = await kit.one(subscriptions, subscriptions.c.id == sub["id"])
    assert row["enabled"] is False and row["disabled_reason"].startswith("gone:") and row["disabled_at"]
    [parked] = await kit.rows(queue_table, queue_table.c.subscription_id == sub["id"])
    assert parked["available_at"] > time.time() + 365 * 86400  # kept, but no worker claims it meanwhile
    assert await _types(kit) == ["endpoint.disabled", "message.attempt.exhausted", "message.attempt.failing"]
    # Both queued for the application's system subscription, in the same transaction.
    queued = await kit.rows(queue_table)
    queued = [q for q in queued if q["subscription_id"] != sub["id"]]
    assert len(queued) == 3 and {q["account_id"] for q in queued} == {f"~ops:{app['id']}"}
    listed, _ = await operational.list_events(db, application_id=app["id"], limit=10, cursor=None)
    assert {e["data"]["subscription_id"] for e in listed} == {sub["id"]}
    [exhausted] = [e for e in listed if e["type"] == "message.attempt.exhausted"]
    assert exhausted["data"]["reason"] == "retries_exhausted"
    jsonschema.validate(exhausted["data"], operational_types.TYPES["message.attempt.exhausted"])


async def test_a_410_disable_leaves_rows_stored_by_ttl_alone(db: Database, kit: Kit) -> None:
    """The recorder's own disabling (410, slow, failing) parks like endpoint_health.park: rows a LivePerson
    TTL installation stores stay at HELD_AT, for its state machine to release in order."""
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    async with db.write() as conn:
        await conn.execute(
            update(queue_table).where(queue_table.c.event_id == "e2").values(available_at=HELD_AT)
        )
    [first] = await queue.claim(db, 10, 30)
    await queue.record(db, [_gone(kit, first)], POLICY)
    assert (await kit.one(subscriptions, subscriptions.c.id == sub["id"]))["enabled"] is False
    rows = {q["event_id"]: q["available_at"] for q in await kit.rows(queue_table)}
    assert rows["e2"] == HELD_AT and time.time() + 365 * 86400 < rows["e1"] < HELD_AT


async def test_without_a_policy_nothing_changes(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [claimed] = await queue.claim(db, 10, 30)
    await queue.record(db, [kit.failure(claimed, time.time() + 60)])
    assert (await kit.one(subscriptions, subscriptions.c.id == sub["id"]))["consecutive_failures"] == 0


async def test_manual_disable_and_enable(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    owner = Owner(account_id="a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    claimed = await queue.claim(db, 10, 30)
    await queue.record(db, [kit.failure(c, time.time() + 60) for c in claimed], POLICY)
    off = await endpoint_health.set_enabled(db, owner, sub["id"], False)
    assert off["enabled"] is False and off["disabled_reason"].startswith("manual:")
    parked = await kit.rows(queue_table)
    assert len(parked) == 2 and all(q["available_at"] > time.time() + 365 * 86400 for q in parked)
    assert await endpoint_health.set_enabled(db, owner, sub["id"], False) == off  # no change, no event
    on = await endpoint_health.set_enabled(db, owner, sub["id"], True)
    assert on["enabled"] is True and on["disabled_reason"] is None and on["consecutive_failures"] == 0
    assert on["failing"] is False
    assert await _types(kit) == ["endpoint.disabled", "endpoint.enabled", "message.attempt.failing"]
    back = await kit.rows(queue_table)  # its deliveries were kept throughout, and are due again
    assert len(back) == 2 and all(q["available_at"] <= time.time() for q in back)


async def test_disable_and_enable_leave_rows_stored_by_ttl_alone(db: Database, kit: Kit) -> None:
    """A FAILED LivePerson TTL installation stores its events (available_at = HELD_AT): only its state
    machine releases them, in order; parking and unparking the endpoint must not."""
    sub = await kit.subscription("a1")
    owner = Owner(account_id="a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    async with db.write() as conn:
        await conn.execute(
            update(queue_table).where(queue_table.c.event_id == "e1").values(available_at=HELD_AT)
        )
    await endpoint_health.set_enabled(db, owner, sub["id"], False)
    rows = {q["event_id"]: q["available_at"] for q in await kit.rows(queue_table)}
    assert rows["e1"] == HELD_AT and time.time() + 365 * 86400 < rows["e2"] < HELD_AT
    await endpoint_health.set_enabled(db, owner, sub["id"], True)
    rows = {q["event_id"]: q["available_at"] for q in await kit.rows(queue_table)}
    assert rows["e1"] == HELD_AT and rows["e2"] <= time.time()


async def test_attempt_stats_buckets(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"), ("e4", "t"))
    claimed = await queue.claim(db, 10, 30)
    now = time.time()
    records = [
        kit.record(claimed[0], attempted_at=now - 250, duration_ms=10),
        kit.record(claimed[1], attempted_at=now - 30, duration_ms=20),
        kit.record(claimed[2], attempted_at=now - 20, duration_ms=30),
        kit.failure(claimed[3], None),
    ]
    await queue.record(db, records)
    stats = await endpoint_health.attempt_stats(db, sub["id"], now - 300, now + 1, 60)
    assert stats["totals"]["attempts"] == 4 and stats["totals"]["successes"] == 3
    # 301 s in 60 s buckets: six; the failure was attempted just now (the last bucket).
    assert [b["attempts"] for b in stats["buckets"]] == [1, 0, 0, 0, 2, 1]
    assert stats["buckets"][0]["p50_ms"] == 10 and stats["buckets"][1]["success_rate"] is None
    last = stats["buckets"][4]
    assert last["successes"] == 2 and last["p99_ms"] == 30 and last["p50_ms"] == 20
    assert stats["buckets"][5]["success_rate"] == 0.0


async def test_time_to_live_deliveries_park_until_they_expire_and_then_die_unattempted(
    db: Database, box: SecretBox, kit: Kit
) -> None:

    app = await kit.application()
    await kit.install(app["id"], "a1", retention_time=60)
    sub = await kit.subscription(None, application_id=app["id"])
    await kit.publish("a1", ("e1", "t"))
    owner = Owner(application_id=app["id"])
    await endpoint_health.set_enabled(db, owner, sub["id"], False)
    [row] = await kit.rows(queue_table)
    assert row["available_at"] == row["created_at"] + 60  # parked until it expires, not for years
    await endpoint_health.set_enabled(db, owner, sub["id"], True)
    [row] = await kit.rows(queue_table)
    assert row["available_at"] <= time.time()  # enabled: back at once
    await endpoint_health.set_enabled(db, owner, sub["id"], False)

    # Its time to live runs out while the endpoint is disabled: finished as dead, never attempted.
    async with db.write() as conn:
        await conn.execute(queue_table.update().values(created_at=time.time() - 61, available_at=time.time()))
    sent: list[Request] = []

    async def handler(request: Request) -> Response:
        sent.append(request)
        return Response(200, b"ok")

    settings = Settings(database_url=db.url, poll_interval=0.01, shutdown_grace=1.0)
    dispatcher = Dispatcher(db, EndpointCache(db, box), MemoryTransport(handler), settings)
    async with running(dispatcher):
        for _ in range(500):
            [delivery] = await kit.rows(deliveries)
            if delivery["status"] != "pending":
                break
            await asyncio.sleep(0.01)
    assert delivery["status"] == "dead" and delivery["attempts"] == 0 and sent == []
    assert await kit.rows(queue_table) == []
    # ... and announced as exhausted, saying why.
    [exhausted] = await kit.rows(operational_events, operational_events.c.type == "message.attempt.exhausted")
    data = orjson.loads(exhausted["data"])
    assert (data["reason"], data["attempts"], data["delivery_id"]) == ("expired", 0, delivery["id"])
    assert data["subscription_id"] == sub["id"] and exhausted["application_id"] == app["id"]
    jsonschema.validate(data, operational_types.TYPES[exhausted["type"]])
