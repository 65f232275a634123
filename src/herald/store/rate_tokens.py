"""Per-endpoint rate-limit buckets shared by every worker.

A worker that claimed k deliveries for a rate-limited endpoint takes up to k whole tokens from the
endpoint's bucket in one short transaction (the bucket refills at the rate since it was last touched, up to
its burst). Buckets are locked in id order, so workers taking for several endpoints never deadlock. What a
worker took and then did not send (its lane was full) is not returned: an endpoint may get a little less
than its rate, never more. Deleting a subscription through the API drops its bucket.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from herald.store.database import Database

# (subscription_id, tokens per second, burst, tokens wanted)
Want = tuple[str, float, float, int]

_SELECT_SQLITE = (
    "SELECT subscription_id, tokens, updated_at FROM endpoint_tokens WHERE subscription_id IN ({marks})"
)
_UPSERT_SQLITE = """
INSERT INTO endpoint_tokens (subscription_id, tokens, updated_at) VALUES (?, ?, ?)
ON CONFLICT (subscription_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at
"""
_CREATE_PG = """
INSERT INTO endpoint_tokens (subscription_id, tokens, updated_at)
SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) ON CONFLICT DO NOTHING
"""
_LOCK_PG = """
SELECT subscription_id, tokens, updated_at FROM endpoint_tokens WHERE subscription_id = ANY($1::text[])
ORDER BY subscription_id FOR UPDATE
"""
_UPDATE_PG = """
UPDATE endpoint_tokens t SET tokens = x.tokens, updated_at = x.at
FROM unnest($1::text[], $2::float8[], $3::float8[]) AS x(id, tokens, at)
WHERE t.subscription_id = x.id
"""


def settle(wants: Sequence[Want], held: dict[str, tuple[float, float]], now: float) -> dict[str, float]:
    """The tokens each bucket holds now (a new bucket starts full), keyed by subscription; `held` maps
    subscription to its stored (tokens, updated_at)."""
    out = {}
    for sub_id, rate, burst, _ in wants:
        tokens, updated = held.get(sub_id, (burst, now))
        out[sub_id] = min(burst, tokens + max(0.0, now - updated) * rate)
    return out


def granted(available: float, want: int) -> int:
    """How many of `want` deliveries a bucket holding `available` tokens lets go now."""
    return min(want, math.floor(available))


async def take(db: Database, wants: Sequence[Want]) -> dict[str, float]:
    """Take up to `want` whole tokens from each endpoint's bucket. Returns the tokens each held before the
    take: `granted(available, want)` of them are this worker's to send now."""
    if not wants:
        return {}
    wants = sorted(wants)
    now = time.time()
    if db.is_sqlite:
        return await db.sqlite_write(_take_sqlite, wants, now, durable=False)
    async with db.driver_transaction() as pg:
        return await _take_pg(pg, wants, now)


def _take_sqlite(conn: sqlite3.Connection, wants: Sequence[Want], now: float) -> dict[str, float]:
    sql = _SELECT_SQLITE.format(marks=",".join("?" * len(wants)))
    held = {r[0]: (r[1], r[2]) for r in conn.execute(sql, [w[0] for w in wants])}
    available = settle(wants, held, now)
    conn.executemany(
        _UPSERT_SQLITE,
        [(sub_id, available[sub_id] - granted(available[sub_id], n), now) for sub_id, *_, n in wants],
    )
    return available


async def _take_pg(pg: Any, wants: Sequence[Want], now: float) -> dict[str, float]:
    ids = [w[0] for w in wants]
    await pg.execute(_CREATE_PG, ids, [w[2] for w in wants], [now] * len(wants))
    held = {r[0]: (r[1], r[2]) for r in await pg.fetch(_LOCK_PG, ids)}
    available = settle(wants, held, now)
    left = [available[sub_id] - granted(available[sub_id], n) for sub_id, *_, n in wants]
    await pg.execute(_UPDATE_PG, ids, left, [now] * len(wants))
    return available
