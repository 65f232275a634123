"""Recover and replay jobs on both backends: what they select, replay marking, idempotency, progress, and a
job resumed by another runner after its lease expired."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from herald.background.jobs import JobRunner
from herald.config import Settings
from herald.domain.models import DeliveryStatus
from herald.store import jobs as job_store
from herald.store import queue as q
from herald.store.database import Database
from herald.store.deliveries import DeliveryFilter, list_deliveries
from herald.store.errors import Conflict
from herald.store.jobs import JobKind, JobOwner, JobStatus, LeaseLost
from herald.store.publish import NewEvent
from herald.store.recovery import recover_step
from herald.store.tables import deliveries, events, jobs, queue, subscriptions

if TYPE_CHECKING:
    from conftest import Kit

A1 = JobOwner(account_id="a1")


def runner(db: Database, batch: int = 500) -> JobRunner:
    return JobRunner(db, Settings(job_batch=batch, job_lease_seconds=60))


async def _settle(db: Database, kit: Kit, *, dead: Collection[str], retrying: Collection[str] = ()) -> None:
    """Attempt every queued delivery once: those of events in `dead` die, in `retrying` wait an hour for
    a retry, the rest are delivered."""
    claimed = await q.claim(db, 1000, 30)
    later = time.time() + 3600
    await q.record(
        db,
        [
            kit.failure(c, next_attempt_at=None)
            if c.event_id in dead
            else kit.failure(c, next_attempt_at=later)
            if c.event_id in retrying
            else kit.record(c)
            for c in claimed
        ],
    )


async def _created_at(db: Database, table: Any, times: dict[str, float]) -> None:
    """Set created_at per event id (deliveries: by event_id; events: by id)."""
    col = table.c.event_id if table is deliveries else table.c.id
    async with db.write() as conn:
        for event_id, at in times.items():
            await conn.execute(update(table).where(col == event_id).values(created_at=at))


async def _job(db: Database, owner: JobOwner, kind: JobKind, sub_id: str, **params: Any) -> dict[str, Any]:
    job, created = await job_store.create_job(db, owner, kind, sub_id, params, None)
    assert created
    return job


async def test_recover_requeues_exactly_the_dead_deliveries_in_range(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    other = await kit.subscription("a1")
    await kit.subscription("a2")
    ids = [f"e{i}" for i in range(1, 7)]
    await kit.publish("a1", *[(i, "t") for i in ids])
    await kit.publish("a2", *[(i, "t") for i in ids])
    # e1..e4 and e6 die everywhere, e5 is delivered; then spread creation times 1000, 2000, …
    await _settle(db, kit, dead={"e1", "e2", "e3", "e4", "e6"})
    await _created_at(db, deliveries, {f"e{i}": i * 1000.0 for i in range(1, 7)})

    job = await _job(db, A1, JobKind.RECOVER, sub["id"], since=2000.0, until=5000.0, include_retrying=False)
    assert job["status"] == JobStatus.QUEUED
    assert await runner(db).run_once()
    assert not await runner(db).run_once()  # nothing else due

    queued = await kit.rows(queue)
    # Only this subscription, this account, dead, created in [2000, 5000): e2, e3, e4 (e5 was delivered).
    assert sorted(r["event_id"] for r in queued) == ["e2", "e3", "e4"]
    assert {(r["subscription_id"], r["account_id"], r["manual"]) for r in queued} == {(sub["id"], "a1", True)}
    mine = {r["event_id"]: r for r in await kit.rows(deliveries, deliveries.c.subscription_id == sub["id"])}
    assert {e for e, r in mine.items() if r["status"] == DeliveryStatus.PENDING} == {"e2", "e3", "e4"}
    assert mine["e1"]["status"] == mine["e6"]["status"] == DeliveryStatus.DEAD
    assert mine["e5"]["status"] == DeliveryStatus.DELIVERED
    assert {r["status"] for r in await kit.rows(deliveries, deliveries.c.subscription_id == other["id"])} == {
        DeliveryStatus.DEAD,
        DeliveryStatus.DELIVERED,
    }
    # A queued row continues the delivery's attempt count: the recovered attempt is the second.
    assert {r["attempts"] for r in queued} == {1}

    done = await job_store.get_job(db, A1, job["id"])
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 3, 3, 3)
    assert done["started_at"] is not None and done["finished_at"] is not None

    # Recovered again while still queued: nothing is queued twice.
    again = await _job(db, A1, JobKind.RECOVER, sub["id"], since=2000.0, until=5000.0, include_retrying=True)
    await runner(db).run_once()
    assert sorted(r["event_id"] for r in await kit.rows(queue)) == ["e2", "e3", "e4"]
    assert (await job_store.get_job(db, A1, again["id"]))["status"] == "succeeded"

    # The recovered deliveries are attempted once more, and are delivered this time.
    claimed = await q.claim(db, 100, 30)
    assert sorted(c.event_id for c in claimed) == ["e2", "e3", "e4"] and all(c.manual for c in claimed)
    await q.record(db, [kit.record(c) for c in claimed])
    mine = {r["event_id"]: r for r in await kit.rows(deliveries, deliveries.c.subscription_id == sub["id"])}
    assert [mine[e]["status"] for e in ("e2", "e3", "e4")] == [DeliveryStatus.DELIVERED] * 3
    assert [mine[e]["attempts"] for e in ("e2", "e3", "e4")] == [2, 2, 2]


async def test_recover_with_retrying_brings_waiting_retries_forward_but_not_leased_ones(
    db: Database, kit: Kit
) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"), ("e3", "t"))
    await _settle(db, kit, dead={"e1"}, retrying={"e2", "e3"})
    # e3's retry fell due and a worker holds it right now (its lease pushes available_at past
    # next_attempt_at).
    due = time.time() - 1
    async with db.write() as conn:
        await conn.execute(update(queue).where(queue.c.event_id == "e3").values(available_at=due))
        await conn.execute(
            update(deliveries).where(deliveries.c.event_id == "e3").values(next_attempt_at=due)
        )
    [leased] = await q.claim(db, 10, 30)
    assert leased.event_id == "e3"

    job = await _job(
        db, A1, JobKind.RECOVER, sub["id"], since=0.0, until=time.time() + 1, include_retrying=True
    )
    await runner(db).run_once()
    now = time.time()
    rows = {r["event_id"]: r for r in await kit.rows(queue)}
    assert rows["e1"]["manual"] is True and rows["e1"]["available_at"] <= now  # dead → queued again
    assert rows["e2"]["available_at"] <= now  # waiting retry → now
    assert rows["e3"]["available_at"] > now + 20  # still leased: untouched
    done = await job_store.get_job(db, A1, job["id"])
    assert (done["total"], done["affected"]) == (3, 2)


async def test_recover_skips_deliveries_whose_event_was_pruned(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    await _settle(db, kit, dead={"e1", "e2"})
    async with db.write() as conn:
        await conn.execute(events.delete().where(events.c.id == "e1"))
    job = await _job(
        db, A1, JobKind.RECOVER, sub["id"], since=0.0, until=time.time() + 1, include_retrying=False
    )
    await runner(db).run_once()
    assert [r["event_id"] for r in await kit.rows(queue)] == ["e2"]
    assert (await job_store.get_job(db, A1, job["id"]))["affected"] == 1


async def test_replay_creates_new_marked_deliveries_of_matching_events(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1", event_types=["order.*"], filter={"n": {"$gte": 2}})
    await kit.subscription("a1", event_types=["*"])
    await kit.publish(
        "a1",
        NewEvent("e1", "order.created", 1.0, '{"n": 1}'),
        NewEvent("e2", "order.created", 1.0, '{"n": 2}'),
        NewEvent("e3", "order.paid", 1.0, '{"n": 3, "big": true}'),
        NewEvent("e4", "user.created", 1.0, '{"n": 4}'),
        NewEvent("e5", "order.paid", 1.0, '{"n": 5}', ordering_key="k"),
    )
    await kit.publish("a2", NewEvent("e9", "order.paid", 1.0, '{"n": 9}'))
    await _settle(db, kit, dead=set())
    await _created_at(db, events, {"e1": 1000.0, "e2": 2000.0, "e3": 3000.0, "e4": 4000.0, "e5": 9000.0})
    originals = {r["id"] for r in await kit.rows(deliveries)}

    job = await _job(
        db, A1, JobKind.REPLAY, sub["id"], since=1000.0, until=5000.0, event_types=None, filter=None
    )
    await runner(db).run_once()
    new = await kit.rows(deliveries, deliveries.c.replay_of.is_not(None))
    # e1 fails the subscription's filter, e4 its event types, e5 is after `until`, e9 is another account's.
    assert sorted(r["event_id"] for r in new) == ["e2", "e3"]
    assert not {r["id"] for r in new} & originals
    assert {(r["replay_of"], r["subscription_id"], r["status"], r["account_id"]) for r in new} == {
        (job["id"], sub["id"], DeliveryStatus.PENDING, "a1")
    }
    assert sorted(r["delivery_id"] for r in await kit.rows(queue)) == sorted(r["id"] for r in new)
    assert {r["status"] for r in await kit.rows(deliveries, deliveries.c.id.in_(originals))} == {
        DeliveryStatus.DELIVERED
    }
    done = await job_store.get_job(db, A1, job["id"])
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 3, 3, 2)

    # The log tells replays apart and filters on them.
    replays, _ = await list_deliveries(db, "a1", DeliveryFilter(is_replay=True), 100, None)
    assert sorted(r["event_id"] for r in replays) == ["e2", "e3"]
    by_job, _ = await list_deliveries(db, "a1", DeliveryFilter(replay_of=job["id"]), 100, None)
    assert len(by_job) == 2
    plain, _ = await list_deliveries(db, "a1", DeliveryFilter(is_replay=False), 100, None)
    assert {r["id"] for r in plain} == {
        r["id"] for r in await kit.rows(deliveries, deliveries.c.account_id == "a1")
    } - {r["id"] for r in new}

    # Narrowed by the job's own types and filter; the replayed delivery is claimed like any other.
    narrow = await _job(
        db,
        A1,
        JobKind.REPLAY,
        sub["id"],
        since=0.0,
        until=1e10,
        event_types=["order.paid"],
        filter={"big": True},
    )
    await runner(db).run_once()
    assert [r["event_id"] for r in await kit.rows(deliveries, deliveries.c.replay_of == narrow["id"])] == [
        "e3"
    ]
    claimed = await q.claim(db, 100, 30)
    assert {c.event_id for c in claimed} == {"e2", "e3"} and not any(c.manual for c in claimed)


async def test_replay_of_an_application_subscription_covers_its_installed_accounts(
    db: Database, kit: Kit
) -> None:
    app = await kit.application()
    await kit.install(app["id"], "a1", max_retries=3)
    await kit.install(app["id"], "a2")
    await kit.install(app["id"], "a3", enabled=False)
    sub = await kit.subscription(None, application_id=app["id"], event_types=["t"])
    for account in ("a1", "a2", "a3", "a4"):
        await kit.publish(account, ("e1", "t"))
    await _settle(db, kit, dead=set())
    owner = JobOwner(application_id=app["id"])
    job = await _job(
        db, owner, JobKind.REPLAY, sub["id"], since=0.0, until=1e10, event_types=None, filter=None
    )
    await runner(db).run_once()
    new = await kit.rows(deliveries, deliveries.c.replay_of == job["id"])
    assert sorted(r["account_id"] for r in new) == ["a1", "a2"]
    retries = {r["account_id"]: r["max_retries"] for r in await kit.rows(queue)}
    assert retries == {"a1": 3, "a2": None}  # the installation's policy, as at publish
    with pytest.raises(Exception, match="not found"):
        await job_store.get_job(db, A1, job["id"])  # another owner's job does not exist for it


async def test_idempotency_key_returns_the_same_job(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    params = {"since": 1.0, "until": 2.0, "include_retrying": False}
    first, created = await job_store.create_job(db, A1, JobKind.RECOVER, sub["id"], params, "key-1")
    again, created_again = await job_store.create_job(db, A1, JobKind.RECOVER, sub["id"], params, "key-1")
    assert created and not created_again and again["id"] == first["id"]
    with pytest.raises(Conflict):
        await job_store.create_job(db, A1, JobKind.RECOVER, sub["id"], {**params, "until": 3.0}, "key-1")
    # Keys are per owner; and without a key every request is a new job.
    other, created_other = await job_store.create_job(
        db, JobOwner(account_id="a2"), JobKind.RECOVER, sub["id"], params, "key-1"
    )
    assert created_other and other["id"] != first["id"]
    plain1, _ = await job_store.create_job(db, A1, JobKind.RECOVER, sub["id"], params, None)
    plain2, _ = await job_store.create_job(db, A1, JobKind.RECOVER, sub["id"], params, None)
    assert plain1["id"] != plain2["id"]
    listed, _ = await job_store.list_jobs(db, A1, 50, None)
    assert {j["id"] for j in listed} == {first["id"], plain1["id"], plain2["id"]}


async def test_job_progress_and_resume_after_its_lease_expires(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(5)])
    await _settle(db, kit, dead={f"e{i}" for i in range(5)})
    # Without `until` the window ends when the job is created: a delivery that dies later stays out.
    job = await _job(db, A1, JobKind.RECOVER, sub["id"], since=0.0, until=None, include_retrying=False)
    await asyncio.sleep(0.01)
    await kit.publish("a1", ("late", "t"))
    await _settle(db, kit, dead={"late"})

    # Runner A claims the job and gets through one batch of 2, then "crashes".
    first = runner(db, batch=2)
    claimed = await job_store.claim(db, 60)
    assert claimed is not None and claimed.id == job["id"]
    await first.work(claimed, max_batches=1)
    halfway = await job_store.get_job(db, A1, job["id"])
    assert (halfway["status"], halfway["total"], halfway["done"], halfway["affected"]) == ("running", 5, 2, 2)
    assert len(await kit.rows(queue)) == 2

    # While its lease runs, nobody else takes it.
    second = runner(db, batch=2)
    assert not await second.run_once()
    async with db.write() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == job["id"]).values(lease_until=time.time() - 1))
    assert await second.run_once()
    done = await job_store.get_job(db, A1, job["id"])
    assert (done["status"], done["total"], done["done"], done["affected"]) == ("succeeded", 5, 5, 5)
    assert sorted(r["event_id"] for r in await kit.rows(queue)) == [f"e{i}" for i in range(5)]

    # Runner A wakes up with its stale lease: its batch is refused and changes nothing.
    with pytest.raises(LeaseLost):
        await recover_step(db, claimed, 2, 60)
    assert (await job_store.get_job(db, A1, job["id"]))["done"] == 5


async def test_a_failing_job_is_retried_then_marked_failed(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    bad = {"since": 0.0, "until": 1e10, "event_types": None, "filter": {"$nope": 1}}
    job, _ = await job_store.create_job(db, A1, JobKind.REPLAY, sub["id"], bad, None)
    for attempt in range(1, job_store.MAX_TRIES + 1):
        assert await runner(db).run_once()
        row = await job_store.get_job(db, A1, job["id"])
        assert row["tries"] == attempt and "$nope" in row["error"]
        if attempt < job_store.MAX_TRIES:
            assert row["status"] == "running" and row["lease_until"] > time.time()
            async with db.write() as conn:
                await conn.execute(update(jobs).where(jobs.c.id == job["id"]).values(lease_until=0.0))
    assert row["status"] == "failed" and row["finished_at"] is not None
    assert not await runner(db).run_once()
    assert await kit.rows(deliveries, deliveries.c.replay_of.is_not(None)) == []


async def test_a_job_for_a_subscription_disabled_since_does_nothing(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    await _settle(db, kit, dead={"e1"})
    recover = await _job(db, A1, JobKind.RECOVER, sub["id"], since=0.0, until=None, include_retrying=False)
    replay = await _job(
        db, A1, JobKind.REPLAY, sub["id"], since=0.0, until=None, event_types=None, filter=None
    )
    async with db.write() as conn:
        await conn.execute(update(subscriptions).where(subscriptions.c.id == sub["id"]).values(enabled=False))
    assert await runner(db).run_once() and await runner(db).run_once()
    for job in (recover, replay):
        row = await job_store.get_job(db, A1, job["id"])
        assert (row["status"], row["affected"]) == ("succeeded", 0)
    assert await kit.rows(queue) == []
    assert len(await kit.rows(deliveries)) == 1


async def test_replay_type_prefixes_are_literal(db: Database, kit: Kit) -> None:
    """`a_b.*` is a prefix, not a LIKE pattern: `_` matches only itself."""
    sub = await kit.subscription("a1", event_types=["*"])
    await kit.publish("a1", ("e1", "a_b.x"), ("e2", "aXb.x"), ("e3", "a_b"))
    await _settle(db, kit, dead=set())
    job = await _job(
        db, A1, JobKind.REPLAY, sub["id"], since=0.0, until=None, event_types=["a_b.*"], filter=None
    )
    await runner(db).run_once()
    assert [r["event_id"] for r in await kit.rows(deliveries, deliveries.c.replay_of == job["id"])] == ["e1"]
    assert (await job_store.get_job(db, A1, job["id"]))["total"] == 1


async def test_a_job_logs_its_start_progress_and_end(
    db: Database, kit: Kit, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from herald.background import jobs as runner_module

    monkeypatch.setattr(runner_module, "PROGRESS_EVERY", 0.0)  # every batch reports
    caplog.set_level(logging.INFO, logger="herald.jobs")
    sub = await kit.subscription("a1")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(5)])
    await _settle(db, kit, dead={f"e{i}" for i in range(5)})
    job = await _job(db, A1, JobKind.RECOVER, sub["id"], since=0.0, until=None, include_retrying=False)
    assert await runner(db, batch=2).run_once()
    lines = [r for r in caplog.records if getattr(r, "job_id", None) == job["id"]]
    text = [r.getMessage() for r in lines]
    assert text[0] == f"job {job['id']} (recover) started for subscription {sub['id']}"
    assert f"job {job['id']} (recover): 1 batches of up to 2 done, 5 deliveries in its window" in text
    assert text[-1].startswith(f"job {job['id']} (recover) finished: 3 batches in ")
    assert lines[-1].subscription_id == sub["id"] and lines[-1].account_id == "a1"  # type: ignore[attr-defined]
