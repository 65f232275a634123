"""Enable / disable an endpoint (subscription) by hand, and read its health from the attempt log."""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain import operational as ops
from herald.domain.health import PARK_SECONDS, UNPARK_AFTER, HealthState, Trigger, enabled_again
from herald.domain.profiles import iso_timestamp
from herald.domain.ttl import HELD_AT
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.operational import emit
from herald.store.subscriptions import Owner, get_subscription
from herald.store.tables import attempts, deliveries, queue, subscriptions

MAX_SAMPLES = 200_000  # attempts read for one health answer (the newest)


async def set_enabled(
    db: Database, owner: Owner, sub_id: str, enabled: bool, reason: str | None = None
) -> dict[str, Any]:
    """Enable or disable the subscription; a change emits endpoint.enabled / endpoint.disabled in the same
    transaction. Enabling clears the reason and starts its health afresh; its waiting deliveries resume."""
    async with db.write() as conn:
        await set_enabled_in(conn, owner, sub_id, enabled, reason)
    return await get_subscription(db, owner, sub_id)


async def set_enabled_in(
    conn: AsyncConnection, owner: Owner, sub_id: str, enabled: bool, reason: str | None = None
) -> bool:
    """`set_enabled` in the caller's transaction; True when the state changed."""
    row = (
        (
            await conn.execute(
                # Locked: a recorder disabling it at the same moment waits, so the change is announced once.
                select(subscriptions).where(owner.clause(), subscriptions.c.id == sub_id).with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"subscription {sub_id} not found", field="subscription_id")
    if bool(row["enabled"]) == enabled:
        return False
    now = time.time()
    if enabled:
        fresh = enabled_again(HealthState(last_success_at=row["last_success_at"]))
        values: dict[str, Any] = asdict(fresh)
        kind, data = ops.ENDPOINT_ENABLED, {"at": iso_timestamp(now)}
    else:
        text = f"{Trigger.MANUAL.value}: {reason or 'disabled through the API'}"
        values = {"enabled": False, "disabled_reason": text, "disabled_at": now}
        kind, data = (
            ops.ENDPOINT_DISABLED,
            {"reason": text, "trigger": Trigger.MANUAL.value, "at": iso_timestamp(now)},
        )
    await conn.execute(
        update(subscriptions).where(subscriptions.c.id == sub_id).values(**values, updated_at=now)
    )
    await (unpark if enabled else park)(conn, sub_id, now)
    endpoint = {"subscription_id": sub_id, "url": row["url"]}
    await emit(
        conn,
        application_id=row["application_id"],
        account_id=row["account_id"],
        type=kind,
        data={**endpoint, **data},
    )
    return True


async def park(conn: AsyncConnection, sub_id: str, now: float) -> None:
    """Park a disabled endpoint's queued deliveries: until it is enabled, or, with a time to live, until they
    expire (the dispatcher then finishes them as dead without an attempt)."""
    until = now + PARK_SECONDS
    expiry = queue.c.created_at + queue.c.retention_time
    at = case((and_(queue.c.retention_time.is_not(None), expiry < until), expiry), else_=until)
    # Rows a LivePerson TTL installation stores (HELD_AT) stay under its state machine, parked or not.
    await conn.execute(
        update(queue)
        .where(queue.c.subscription_id == sub_id, queue.c.available_at < HELD_AT)
        .values(available_at=at)
    )


async def unpark(conn: AsyncConnection, sub_id: str, now: float) -> None:
    """Bring back what `park` parked (and only that: rows leased or waiting for a retry keep their time)."""
    expiry = queue.c.created_at + queue.c.retention_time
    parked = or_(
        queue.c.available_at > now + UNPARK_AFTER,
        and_(queue.c.retention_time.is_not(None), queue.c.available_at >= expiry, expiry > now),
    )
    await conn.execute(
        update(queue)
        .where(queue.c.subscription_id == sub_id, parked, queue.c.available_at < HELD_AT)
        .values(available_at=now)
    )


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


def _summary(samples: list[tuple[float, bool]]) -> dict[str, Any]:
    durations = sorted(d for d, _ in samples)
    ok = sum(1 for _, s in samples if s)
    return {
        "attempts": len(samples),
        "successes": ok,
        "success_rate": round(ok / len(samples), 4) if samples else None,
        "p50_ms": _percentile(durations, 0.50),
        "p95_ms": _percentile(durations, 0.95),
        "p99_ms": _percentile(durations, 0.99),
    }


async def attempt_stats(
    db: Database, sub_id: str, since: float, until: float, bucket: float
) -> dict[str, Any]:
    """Success rate and latency percentiles of the subscription's attempts in [since, until), overall and
    per bucket of `bucket` seconds (empty buckets included, so a chart's x axis is regular)."""
    # A delivery with an attempt in the window has its last attempt in it too: that bounds the join.
    query = (
        select(attempts.c.attempted_at, attempts.c.duration_ms, attempts.c.error_kind)
        .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
        .where(
            deliveries.c.subscription_id == sub_id,
            deliveries.c.last_attempt_at >= since,
            attempts.c.attempted_at >= since,
            attempts.c.attempted_at < until,
        )
        .order_by(attempts.c.attempted_at.desc())
        .limit(MAX_SAMPLES)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    count = max(1, math.ceil((until - since) / bucket))
    per: list[list[tuple[float, bool]]] = [[] for _ in range(count)]
    everything: list[tuple[float, bool]] = []
    for at, duration, kind in rows:
        sample = (float(duration), kind is None)
        everything.append(sample)
        per[min(count - 1, int((at - since) // bucket))].append(sample)
    return {
        "totals": _summary(everything),
        "sampled": len(rows) >= MAX_SAMPLES,
        "buckets": [{"start": since + i * bucket, **_summary(b)} for i, b in enumerate(per)],
    }
