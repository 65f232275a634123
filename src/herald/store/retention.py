"""Retention: delete old rows in small batches, each its own short transaction.

- payloads: `events` rows (the published data) created before the payload cutoff, unless a queue row
  still refers to them (a delivery waiting for an attempt keeps its event, whatever its age);
- delivery log: finished `deliveries` rows (delivered, dead, cancelled) created before the log cutoff,
  with all their `attempts`; a delivery still queued is never pruned;
- jobs: finished recover/replay jobs last updated before the log cutoff.

Candidates are locked with SKIP LOCKED on PostgreSQL, so processes sweeping at the same time take different
rows instead of waiting on each other.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select, tuple_

from herald.domain.models import DeliveryStatus
from herald.store.database import Database
from herald.store.jobs import JobStatus
from herald.store.tables import attempts, deliveries, events, jobs, queue


async def prune_deliveries(db: Database, cutoff: float, batch: int) -> int:
    d = deliveries.c
    async with db.write() as conn:
        ids = list(
            (
                await conn.scalars(
                    select(d.id)
                    .where(
                        d.created_at < cutoff,
                        d.status != DeliveryStatus.PENDING.value,
                        ~exists().where(queue.c.delivery_id == d.id),
                    )
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if ids:
            await conn.execute(delete(attempts).where(attempts.c.delivery_id.in_(ids)))
            await conn.execute(delete(deliveries).where(d.id.in_(ids)))
    return len(ids)


async def prune_events(db: Database, cutoff: float, batch: int) -> int:
    e = events.c
    async with db.write() as conn:
        keys = [
            tuple(r)
            for r in (
                await conn.execute(
                    select(e.account_id, e.id)
                    .where(
                        e.created_at < cutoff,
                        ~exists().where(queue.c.account_id == e.account_id, queue.c.event_id == e.id),
                    )
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        ]
        if keys:
            await conn.execute(delete(events).where(tuple_(e.account_id, e.id).in_(keys)))
    return len(keys)


async def prune_jobs(db: Database, cutoff: float, batch: int) -> int:
    j = jobs.c
    async with db.write() as conn:
        ids = list(
            (
                await conn.scalars(
                    select(j.id)
                    .where(
                        j.status.in_((JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)),
                        j.updated_at < cutoff,
                    )
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if ids:
            await conn.execute(delete(jobs).where(j.id.in_(ids)))
    return len(ids)
