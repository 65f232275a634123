"""The work of recover and replay jobs, one bounded batch per short transaction.

Each step owns the job (lease check, see store/jobs.py), does one batch and saves the job's progress and
cursor in the same transaction, so a batch is applied exactly once even when a job is resumed by another
process. Rows are walked in keyset order, so a resumed job continues after the last batch it saved.

- **recover**: a subscription's failed deliveries created in [since, until): `dead` ones get a queue row
  again (one more attempt each, like a manual resend; the insert skips a delivery already queued, so
  nothing is ever queued twice), and with `include_retrying` the `pending` ones waiting for a retry are
  brought forward to now. Deliveries whose event was pruned by retention or expunged are skipped.
- **replay**: the events stored in [since, until) of the job's own `event_types` and `filter` are routed
  again exactly as publish routed them (herald.domain.routing: the subscription's types, payload and
  LiveChat filters, the per-license switch, retry/retention, ordering, a TTL installation's hold); each
  delivery it gets is a new one with a new id, marked `replay_of = <job id>`. Expunged events never.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.filters import Filter, compile_filter
from herald.domain.matching import type_matches
from herald.domain.models import DeliveryStatus
from herald.domain.routing import Routed, fan_out, parse, restored_context
from herald.store import jobs as job_store
from herald.store.database import Database
from herald.store.enqueue import Requeue, enqueue, requeue
from herald.store.expunge import not_expunged
from herald.store.jobs import ClaimedJob
from herald.store.routing import drain_conversations, routes_of_subscription
from herald.store.tables import deliveries, events, queue, subscriptions

DEAD = DeliveryStatus.DEAD.value
PENDING = DeliveryStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Step:
    cursor: list[Any] | None
    total: int | None
    finished: bool


# ------------------------------------------------------------------------------------------- recover


def _recover_where(job: ClaimedJob) -> list[ColumnElement[bool]]:
    p, d = job.params, deliveries.c
    since, until = job.window
    statuses = [DEAD, PENDING] if p.get("include_retrying") else [DEAD]
    where = [
        d.subscription_id == job.subscription_id,
        d.created_at >= since,
        d.created_at < until,
        d.status.in_(statuses),
    ]
    if job.account_id is not None:
        where.append(d.account_id == job.account_id)
    return where


def _with_event() -> ColumnElement[bool]:
    # Only deliveries whose event is still stored can be attempted again (retention prunes payloads).
    # Expunged events have nothing left to send (store/expunge.py).
    return and_(
        events.c.account_id == deliveries.c.account_id, events.c.id == deliveries.c.event_id, not_expunged()
    )


async def recover_step(db: Database, job: ClaimedJob, batch: int, lease_seconds: float) -> Step:
    d = deliveries.c
    where = _recover_where(job)
    async with db.write() as conn:
        await job_store.own(conn, job, lease_seconds)
        if not await _enabled(conn, job.subscription_id):
            # Deleted or disabled since the job started: queued deliveries would only be cancelled or held.
            await job_store.save_progress(
                conn, job, looked_at=0, affected=0, cursor=job.cursor, finished=True
            )
            return Step(job.cursor, job.total, True)
        total = job.total
        if total is None:
            total = int(
                await conn.scalar(
                    select(func.count()).select_from(deliveries.join(events, _with_event())).where(*where)
                )
                or 0
            )
            await job_store.set_total(conn, job, total)
        query = (
            select(d.id, d.account_id, d.event_id, d.subscription_id, d.status, d.attempts, d.created_at)
            .select_from(deliveries.join(events, _with_event()))
            .where(*where)
        )
        if job.cursor:
            query = query.where(tuple_(d.created_at, d.id) > tuple_(*job.cursor))
        rows = (await conn.execute(query.order_by(d.created_at, d.id).limit(batch))).all()
        now = time.time()
        requeued = await _requeue_dead(conn, [r for r in rows if r.status == DEAD], now)
        moved = await _bring_forward(conn, [r.id for r in rows if r.status == PENDING], now)
        cursor = [rows[-1].created_at, rows[-1].id] if rows else job.cursor
        finished = len(rows) < batch
        await job_store.save_progress(
            conn, job, looked_at=len(rows), affected=requeued + moved, cursor=cursor, finished=finished
        )
    return Step(cursor, total, finished)


async def _enabled(conn: AsyncConnection, subscription_id: str) -> bool:
    s = subscriptions.c
    found = await conn.scalar(select(s.id).where(s.id == subscription_id, s.enabled.is_(True)))
    return found is not None


async def _requeue_dead(conn: AsyncConnection, rows: list[Any], now: float) -> int:
    queued = await requeue(
        conn, [Requeue(r.id, r.account_id, r.event_id, r.subscription_id, r.attempts) for r in rows], now
    )
    if queued:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(queued), deliveries.c.status == DEAD)
            .values(status=PENDING, next_attempt_at=now, finished_at=None)
        )
    return len(queued)


async def _bring_forward(conn: AsyncConnection, ids: list[str], now: float) -> int:
    """Pending deliveries waiting for a retry: attempt now. A row under a worker's lease is left alone:
    its `available_at` is the lease expiry, later than the delivery's `next_attempt_at`, whereas a row
    waiting for its retry has both set to the same time by the recorder."""
    if not ids:
        return 0
    next_at = select(deliveries.c.next_attempt_at).where(deliveries.c.id == queue.c.delivery_id)
    moved = [
        r[0]
        for r in (
            await conn.execute(
                update(queue)
                .where(
                    queue.c.delivery_id.in_(ids),
                    queue.c.available_at > now,
                    queue.c.available_at <= next_at.scalar_subquery(),
                )
                .values(available_at=now)
                .returning(queue.c.delivery_id)
            )
        ).all()
    ]
    if moved:
        await conn.execute(update(deliveries).where(deliveries.c.id.in_(moved)).values(next_attempt_at=now))
    return len(moved)


# -------------------------------------------------------------------------------------------- replay


def _types_clause(patterns: list[str]) -> ColumnElement[bool]:
    if "*" in patterns:
        return true()
    e = events.c
    return or_(
        *(e.type.startswith(p[:-1], autoescape=True) if p.endswith(".*") else e.type == p for p in patterns)
    )


async def replay_step(db: Database, job: ClaimedJob, batch: int, lease_seconds: float) -> Step:
    p, e = job.params, events.c
    async with db.write() as conn:
        await job_store.own(conn, job, lease_seconds)
        routes = await routes_of_subscription(conn, job.subscription_id)
        if not routes:  # the subscription was deleted or disabled since: nothing (more) to replay
            await job_store.save_progress(
                conn, job, looked_at=0, affected=0, cursor=job.cursor, finished=True
            )
            return Step(job.cursor, job.total, True)
        # Default: the subscription's own types (the same in every account), so `total` counts only those.
        wanted = p.get("event_types") or next(iter(routes.values()))[0].event_types
        since, until = job.window
        where = [
            e.account_id.in_(sorted(routes)),
            e.created_at >= since,
            e.created_at < until,
            _types_clause(wanted),
            not_expunged(),
        ]
        total = job.total
        if total is None:
            total = int(await conn.scalar(select(func.count()).select_from(events).where(*where)) or 0)
            await job_store.set_total(conn, job, total)
        query = select(e.account_id, e.id, e.type, e.data, e.ordering_key, e.context, e.created_at).where(
            *where
        )
        if job.cursor:
            query = query.where(tuple_(e.created_at, e.account_id, e.id) > tuple_(*job.cursor))
        rows = (await conn.execute(query.order_by(e.created_at, e.account_id, e.id).limit(batch))).all()
        extra: Filter | None = compile_filter(p["filter"]) if p.get("filter") else None
        # The job narrows (its own types and filter); routing decides, as it did at publish.
        chosen = [
            Routed(
                r.account_id,
                r.id,
                r.type,
                r.data,
                r.ordering_key,
                restored_context(r.type, r.data, r.context),
            )
            for r in rows
            if type_matches(wanted, r.type) and (extra is None or extra.matches(parse(r.data)))
        ]
        all_routes = [rt for rs in routes.values() for rt in rs]
        draining = await drain_conversations(conn, all_routes, (r.ordering_key for r in chosen))
        now = time.time()
        new = fan_out(routes, chosen, now, draining, replay_of=job.id)
        await enqueue(conn, new, now)
        cursor = [rows[-1].created_at, rows[-1].account_id, rows[-1].id] if rows else job.cursor
        finished = len(rows) < batch
        await job_store.save_progress(
            conn, job, looked_at=len(rows), affected=len(new), cursor=cursor, finished=finished
        )
    return Step(cursor, total, finished)
