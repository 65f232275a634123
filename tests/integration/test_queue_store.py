"""The delivery queue: leased claims, ordering heads, recording outcomes, release and cancel."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson
import pytest

from herald.domain.models import DeliveryStatus, ErrorKind
from herald.store import queue as q
from herald.store import queue_postgres, queue_sqlite
from herald.store.database import Database
from herald.store.publish import NewEvent
from herald.store.queue_rows import CLAIM_COLUMNS
from herald.store.tables import attempts, deliveries, queue

if TYPE_CHECKING:
    from conftest import Kit


async def test_claim_respects_limit_and_lease(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(5)])
    first = await q.claim(db, 2, 30)
    assert len(first) == 2
    rest = await q.claim(db, 10, 30)
    assert len(rest) == 3
    assert {c.event_id for c in first} | {c.event_id for c in rest} == {f"e{i}" for i in range(5)}
    assert await q.claim(db, 10, 30) == []  # all leased
    c = first[0]
    assert (c.subscription_id, c.account_id, c.event_type, c.attempts, c.lease, c.manual) == (
        sub["id"],
        "a1",
        "t",
        0,
        1,
        False,
    )
    assert c.event_data == b'{"n":1}'
    row = await kit.one(queue, queue.c.seq == c.seq)
    assert row["available_at"] == pytest.approx(time.time() + 30, abs=5)
    assert row["lease"] == 1


async def test_claim_returns_rows_in_publish_order(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    for i in range(4):
        await kit.publish("a1", (f"e{i}", "t"))
    claimed = await q.claim(db, 10, 30)
    assert [c.event_id for c in claimed] == ["e0", "e1", "e2", "e3"]
    assert [c.seq for c in claimed] == sorted(c.seq for c in claimed)


async def test_expired_lease_is_claimable_again_with_new_token(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [first] = await q.claim(db, 10, 30)
    assert await q.claim(db, 10, 30) == []
    await kit.expire_leases(queue.c.seq == first.seq)
    [second] = await q.claim(db, 10, 30)
    assert second.delivery_id == first.delivery_id
    assert second.lease == first.lease + 1
    await kit.expire_leases()
    [third] = await q.claim(db, 10, 30)
    assert third.lease == first.lease + 2


async def test_not_due_rows_are_not_claimed(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [claimed] = await q.claim(db, 10, 30)
    await q.record(db, [kit.failure(claimed, next_attempt_at=time.time() + 3600)])
    assert await q.claim(db, 10, 30) == []


async def test_ordering_head_rule(db: Database, kit: Kit) -> None:
    ordered = await kit.subscription("a1", ordered=True)
    unordered = await kit.subscription("a1")
    await kit.publish(
        "a1",
        NewEvent("k1-a", "t", 1.0, "{}", ordering_key="k1"),
        NewEvent("k1-b", "t", 1.0, "{}", ordering_key="k1"),
        NewEvent("k2-a", "t", 1.0, "{}", ordering_key="k2"),
        NewEvent("free", "t", 1.0, "{}"),
    )
    await kit.publish("a1", NewEvent("k1-c", "t", 1.0, "{}", ordering_key="k1"))
    claimed = await q.claim(db, 100, 30)
    by_sub: dict[str, set[str]] = {}
    for c in claimed:
        by_sub.setdefault(c.subscription_id, set()).add(c.event_id)
    assert by_sub[ordered["id"]] == {"k1-a", "k2-a", "free"}  # heads only; unkeyed events are free
    assert by_sub[unordered["id"]] == {"k1-a", "k1-b", "k2-a", "free", "k1-c"}

    assert await q.claim(db, 100, 30) == []  # heads are leased; their followers stay blocked
    await kit.expire_leases(queue.c.subscription_id == ordered["id"])
    reclaimed = await q.claim(db, 100, 30)
    assert {c.event_id for c in reclaimed} == {"k1-a", "k2-a", "free"}  # the heads again, never k1-b

    head = next(c for c in reclaimed if c.event_id == "k1-a")
    # a head waiting for its retry keeps the rest of its key waiting
    await q.record(db, [kit.failure(head, next_attempt_at=time.time() + 3600)])
    assert [c for c in await q.claim(db, 100, 30) if c.subscription_id == ordered["id"]] == []
    await kit.expire_leases(queue.c.delivery_id == head.delivery_id)  # its retry falls due
    [again] = [c for c in await q.claim(db, 100, 30) if c.subscription_id == ordered["id"]]
    assert again.event_id == "k1-a"
    assert again.attempts == 1

    await q.record(db, [kit.record(again)])
    [nxt] = [c for c in await q.claim(db, 100, 30) if c.subscription_id == ordered["id"]]
    assert nxt.event_id == "k1-b"
    await q.record(db, [kit.record(nxt)])
    [last] = [c for c in await q.claim(db, 100, 30) if c.subscription_id == ordered["id"]]
    assert last.event_id == "k1-c"


async def test_ordering_is_per_subscription(db: Database, kit: Kit) -> None:
    one = await kit.subscription("a1", ordered=True)
    two = await kit.subscription("a1", ordered=True)
    await kit.publish(
        "a1",
        NewEvent("x1", "t", 1.0, "{}", ordering_key="k"),
        NewEvent("x2", "t", 1.0, "{}", ordering_key="k"),
    )
    claimed = await q.claim(db, 100, 30)
    assert sorted((c.subscription_id, c.event_id) for c in claimed) == sorted(
        [(one["id"], "x1"), (two["id"], "x1")]
    )


async def test_record_success(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    headers = {"webhook-id": c.delivery_id, "content-type": "application/json", "x-unicode": "caf\u00e9"}
    at = time.time()
    await q.record(
        db,
        [
            kit.record(
                c, headers=headers, attempted_at=at, duration_ms=42.5, status_code=204, response_body="fine"
            )
        ],
    )
    assert await kit.rows(queue) == []
    d = await kit.one(deliveries, deliveries.c.id == c.delivery_id)
    assert d["status"] == DeliveryStatus.DELIVERED
    assert d["attempts"] == 1
    assert d["last_attempt_at"] == pytest.approx(at)
    assert d["finished_at"] == pytest.approx(at)
    assert d["last_status_code"] == 204
    assert d["last_error_kind"] is None
    assert d["next_attempt_at"] is None
    a = await kit.one(attempts, attempts.c.delivery_id == c.delivery_id)
    assert a["id"].startswith("att_")
    assert (a["account_id"], a["attempt"], a["status_code"], a["error_kind"], a["error_message"]) == (
        "a1",
        1,
        204,
        None,
        None,
    )
    assert a["attempted_at"] == pytest.approx(at)
    assert a["duration_ms"] == pytest.approx(42.5)
    assert a["response_body"] == "fine"
    assert orjson.loads(a["request_headers"]) == headers


async def test_record_retry(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    next_at = time.time() + 120
    await q.record(db, [kit.failure(c, next_attempt_at=next_at)])
    row = await kit.one(queue)
    assert row["available_at"] == pytest.approx(next_at)
    assert row["attempts"] == 1
    assert row["lease"] == c.lease
    d = await kit.one(deliveries)
    assert d["status"] == DeliveryStatus.PENDING
    assert d["next_attempt_at"] == pytest.approx(next_at)
    assert (d["attempts"], d["last_status_code"], d["last_error_kind"], d["finished_at"]) == (
        1,
        500,
        "bad_status",
        None,
    )
    a = await kit.one(attempts)
    assert (a["status_code"], a["error_kind"], a["error_message"], a["response_body"]) == (
        500,
        "bad_status",
        "endpoint answered 500",
        "boom",
    )


async def test_record_transport_error_then_dead(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [c] = await q.claim(db, 10, 30)
    record = kit.record(
        c,
        succeeded=False,
        next_attempt_at=time.time() - 1,
        status_code=None,
        error_kind=ErrorKind.CONNECT_TIMEOUT,
        error_message="timed out",
        response_body=None,
    )
    await q.record(db, [record])
    [c2] = await q.claim(db, 10, 30)
    assert c2.attempts == 1
    await q.record(db, [kit.failure(c2, next_attempt_at=None)])
    assert await kit.rows(queue) == []
    d = await kit.one(deliveries)
    assert d["status"] == DeliveryStatus.DEAD
    assert d["attempts"] == 2
    assert d["finished_at"] is not None
    log = sorted(await kit.rows(attempts), key=lambda a: a["attempt"])
    assert [(a["attempt"], a["status_code"], a["error_kind"]) for a in log] == [
        (1, None, "connect_timeout"),
        (2, 500, "bad_status"),
    ]


async def test_record_batch_of_mixed_outcomes(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("ok", "t"), ("retry", "t"), ("dead", "t"))
    claimed = {c.event_id: c for c in await q.claim(db, 10, 30)}
    await q.record(
        db,
        [
            kit.record(claimed["ok"]),
            kit.failure(claimed["retry"], next_attempt_at=time.time() + 60),
            kit.failure(claimed["dead"], next_attempt_at=None),
        ],
    )
    status = {d["event_id"]: d["status"] for d in await kit.rows(deliveries)}
    assert status == {"ok": "delivered", "retry": "pending", "dead": "dead"}
    assert [r["event_id"] for r in await kit.rows(queue)] == ["retry"]
    assert len(await kit.rows(attempts)) == 3


async def test_stale_lease_logs_attempt_but_leaves_queue_row(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [stale] = await q.claim(db, 10, 30)
    await kit.expire_leases()
    [current] = await q.claim(db, 10, 30)
    before = await kit.one(queue)
    assert before["lease"] == current.lease == stale.lease + 1

    await q.record(db, [kit.failure(stale, next_attempt_at=time.time() + 999)])
    await q.record(db, [kit.record(stale)])
    assert await kit.one(queue) == before  # not rescheduled, not deleted
    assert len(await kit.rows(attempts)) == 2  # but both attempts happened and are logged

    await q.record(db, [kit.record(current)])
    assert await kit.rows(queue) == []
    assert (await kit.one(deliveries))["status"] == DeliveryStatus.DELIVERED


async def test_stale_final_failure_does_not_finish_a_reclaimed_delivery(db: Database, kit: Kit) -> None:
    # Worker A's lease ran out and worker B holds the row now. A's late "no more retries" must not mark
    # the delivery dead while B is still trying it (dead means nothing more will be tried).
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    [stale] = await q.claim(db, 10, 30)
    await kit.expire_leases()
    [current] = await q.claim(db, 10, 30)
    assert current.lease == stale.lease + 1
    await q.record(db, [kit.failure(stale, next_attempt_at=None)])
    assert len(await kit.rows(queue)) == 1
    d = await kit.one(deliveries)
    assert d["status"] == DeliveryStatus.PENDING
    assert d["finished_at"] is None


async def test_release(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    claimed = sorted(await q.claim(db, 10, 30), key=lambda c: c.event_id)
    await q.release(db, [claimed[0]])
    await q.release(db, [claimed[1]], delay=60)
    rows = {r["event_id"]: r for r in await kit.rows(queue)}
    assert rows["e2"]["available_at"] == pytest.approx(time.time() + 60, abs=5)
    assert rows["e1"]["attempts"] == rows["e2"]["attempts"] == 0  # no attempt was made
    [again] = await q.claim(db, 10, 30)
    assert again.event_id == "e1"
    assert again.lease == claimed[0].lease + 1
    # releasing with a stale lease does nothing
    await q.release(db, [claimed[0]])
    assert await q.claim(db, 10, 30) == []
    await q.release(db, [])  # no-op


async def test_cancel(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    claimed = sorted(await q.claim(db, 10, 30), key=lambda c: c.event_id)
    await q.cancel(db, [claimed[0]])
    assert [r["event_id"] for r in await kit.rows(queue)] == ["e2"]
    status = {d["event_id"]: d for d in await kit.rows(deliveries)}
    assert status["e1"]["status"] == DeliveryStatus.CANCELLED
    assert status["e1"]["finished_at"] is not None
    assert status["e2"]["status"] == DeliveryStatus.PENDING
    await q.cancel(db, [])  # no-op


async def test_depth(db: Database, kit: Kit) -> None:
    assert await q.depth(db) == 0
    await kit.subscription("a1")
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"))
    assert await q.depth(db) == 6
    claimed = await q.claim(db, 2, 30)
    assert await q.depth(db) == 6  # claimed rows stay queued until recorded
    await q.record(db, [kit.record(c) for c in claimed])
    assert await q.depth(db) == 4


async def test_claim_hands_held_subscriptions_rows_straight_back(db: Database, kit: Kit) -> None:
    fast = await kit.subscription("a1")
    slow = await kit.subscription("a1")
    other = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"))
    later = time.time() + 120
    sooner = time.time() + 60
    claim = await q.claim_due(db, 100, 30, {slow["id"]: later, other["id"]: sooner})
    # Every due row was leased; only the fast subscription's came back to be sent, with their events.
    assert claim.taken == 9
    assert claim.held == {slow["id"]: 3, other["id"]: 3}
    assert {(c.subscription_id, c.event_id) for c in claim.deliveries} == {
        (fast["id"], "e1"),
        (fast["id"], "e2"),
        (fast["id"], "e3"),
    }
    assert all(c.event_type == "t" and c.event_data == b'{"n":1}' for c in claim.deliveries)
    rows = await kit.rows(queue)
    for sub, when in ((slow, later), (other, sooner)):
        times = [r["available_at"] for r in rows if r["subscription_id"] == sub["id"]]
        assert times == [pytest.approx(when)] * 3
    assert all(r["attempts"] == 0 and r["lease"] == 1 for r in rows)  # no attempt was used
    assert await q.claim(db, 100, 30) == []  # nothing is due: held rows come back at their time

    # When that time comes they are claimed as any other row, events and all.
    await kit.expire_leases(queue.c.subscription_id == slow["id"])
    back = await q.claim_due(db, 100, 30)
    assert sorted(c.event_id for c in back.deliveries) == ["e1", "e2", "e3"]
    assert {c.subscription_id for c in back.deliveries} == {slow["id"]} and back.held == {}
    assert all(c.lease == 2 and c.event_data == b'{"n":1}' for c in back.deliveries)


async def test_held_ordered_subscription_keeps_its_order(db: Database, kit: Kit) -> None:
    ordered = await kit.subscription("a1", ordered=True)
    await kit.publish(
        "a1",
        NewEvent("k-1", "t", 1.0, "{}", ordering_key="k"),
        NewEvent("k-2", "t", 1.0, "{}", ordering_key="k"),
    )
    claim = await q.claim_due(db, 100, 30, {ordered["id"]: time.time() + 60})
    assert claim.held == {ordered["id"]: 1} and claim.deliveries == []  # only the head was due
    await kit.expire_leases()
    [head] = (await q.claim_due(db, 100, 30)).deliveries
    assert head.event_id == "k-1"  # the head is still first; its follower waits for it


async def test_both_claims_return_the_same_named_columns(db: Database, kit: Kit) -> None:
    """The seam: each backend's claim returns rows read by CLAIM_COLUMNS name, held rows without their
    event, in queue order."""
    held_sub = await kit.subscription("a1")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(3)])
    other = await kit.subscription("a1")
    await kit.publish("a1", ("e3", "t"))
    now = time.time()
    if db.is_sqlite:
        rows = await db.sqlite_write(queue_sqlite.claim, now, 10, now + 30, {held_sub["id"]: now + 60})
    else:
        async with db.driver_transaction() as conn:
            rows = await queue_postgres.claim(conn, now, 10, now + 30, {held_sub["id"]: now + 60})
    assert rows and all(tuple(r.keys()) == CLAIM_COLUMNS for r in rows)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    with_event = {(r["subscription_id"], r["event_id"]) for r in rows if r["event_type"] is not None}
    assert with_event == {(other["id"], "e3")}
    assert sum(r["subscription_id"] == held_sub["id"] for r in rows) == 4
