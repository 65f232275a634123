"""Retention on both backends: old payloads, finished log rows with their attempts and finished jobs are
pruned in batches; anything still queued stays, whatever its age."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from herald.background.retention import DAY, RetentionSweeper
from herald.config import Settings
from herald.store import jobs as job_store
from herald.store import queue as q
from herald.store.database import Database
from herald.store.deliveries import get_delivery, resend
from herald.store.errors import Conflict
from herald.store.jobs import JobKind, JobOwner
from herald.store.tables import attempts, deliveries, events, jobs, queue

if TYPE_CHECKING:
    from conftest import Kit


def sweeper(db: Database, **settings: float) -> RetentionSweeper:
    return RetentionSweeper(db, Settings(retention_batch=2, **settings))  # type: ignore[arg-type]


async def test_retention_prunes_old_rows_and_keeps_queued_ones(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    # old1..old5: delivered (attempt logged); queued1: still waiting for a retry; new1: recent, delivered.
    await kit.publish("a1", *[(f"old{i}", "t") for i in range(1, 6)], ("queued1", "t"), ("new1", "t"))
    claimed = await q.claim(db, 100, 30)
    later = time.time() + 3600
    await q.record(
        db,
        [
            kit.failure(c, next_attempt_at=later) if c.event_id == "queued1" else kit.record(c)
            for c in claimed
        ],
    )
    now = time.time()
    async with db.write() as conn:
        # Everything but new1 is 100 days old.
        await conn.execute(update(events).where(events.c.id != "new1").values(created_at=now - 100 * DAY))
        await conn.execute(
            update(deliveries).where(deliveries.c.event_id != "new1").values(created_at=now - 100 * DAY)
        )
    old_job, _ = await job_store.create_job(db, JobOwner(account_id="a1"), JobKind.RECOVER, "s", {}, None)
    running_job, _ = await job_store.create_job(db, JobOwner(account_id="a1"), JobKind.RECOVER, "s", {}, None)
    async with db.write() as conn:
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == old_job["id"])
            .values(status="succeeded", updated_at=now - 100 * DAY)
        )
        await conn.execute(
            update(jobs).where(jobs.c.id == running_job["id"]).values(updated_at=now - 100 * DAY)
        )
    old_ids = {r["id"] for r in await kit.rows(deliveries, deliveries.c.event_id.like("old%"))}

    # Payloads at 30 days only: the events go (not queued1's, still queued), the log stays.
    pruned = await sweeper(db, retention_log_days=0).sweep()
    assert (pruned.events, pruned.deliveries, pruned.jobs) == (5, 0, 0)
    assert sorted(r["id"] for r in await kit.rows(events)) == ["new1", "queued1"]
    assert len(await kit.rows(deliveries)) == 7 and len(await kit.rows(attempts)) == 7
    # The log still shows a pruned event's delivery, without its payload, and it cannot be sent again.
    some = next(iter(old_ids))
    assert (await get_delivery(db, "a1", some)).get("event") is None
    with pytest.raises(Conflict):
        await resend(db, "a1", some)

    # The delivery log at 90 days: finished old deliveries and their attempts; finished old jobs.
    pruned = await sweeper(db).sweep()
    assert (pruned.events, pruned.deliveries, pruned.jobs) == (0, 5, 1)
    left = await kit.rows(deliveries)
    assert sorted(r["event_id"] for r in left) == ["new1", "queued1"]
    assert {r["delivery_id"] for r in await kit.rows(attempts)} == {r["id"] for r in left}
    assert [r["event_id"] for r in await kit.rows(queue)] == ["queued1"]
    assert [r["id"] for r in await kit.rows(jobs)] == [running_job["id"]]

    # A pending delivery is never pruned even without a queue row (its worker lost the lease mid-record).
    async with db.write() as conn:
        await conn.execute(queue.delete())
    pruned = await sweeper(db).sweep()
    assert pruned.deliveries == 0
    assert sorted(r["event_id"] for r in await kit.rows(deliveries)) == ["new1", "queued1"]
    # ... but once nothing is queued, its old event goes at the next sweep.
    assert pruned.events == 1 and [r["id"] for r in await kit.rows(events)] == ["new1"]


async def test_zero_days_keeps_everything(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    await q.record(db, [kit.record(c) for c in await q.claim(db, 10, 30)])
    async with db.write() as conn:
        await conn.execute(update(events).values(created_at=0.0))
        await conn.execute(update(deliveries).values(created_at=0.0))
    pruned = await sweeper(db, retention_log_days=0, retention_payload_days=0).sweep()
    assert (pruned.events, pruned.deliveries, pruned.jobs) == (0, 0, 0)
    assert len(await kit.rows(events)) == len(await kit.rows(deliveries)) == 1
