"""Trace contexts of published events (only while tracing is on), so that any worker can make its
attempt spans children of the publish span."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from herald.store.database import Database
from herald.store.tables import event_traces

KEEP_SECONDS = 7 * 86_400  # a retry later than this starts a trace of its own


async def save(db: Database, account_id: str, event_ids: Iterable[str], traceparent: str) -> None:
    """Written before the events themselves, so a worker never claims a delivery before its trace is
    known; a re-published id keeps its first trace."""
    now = time.time()
    rows = [
        {"account_id": account_id, "event_id": i, "traceparent": traceparent, "created_at": now}
        for i in dict.fromkeys(event_ids)
    ]
    if not rows:
        return
    insert = sqlite_insert if db.is_sqlite else pg_insert
    async with db.write() as conn:
        await conn.execute(insert(event_traces).values(rows).on_conflict_do_nothing())
        await conn.execute(delete(event_traces).where(event_traces.c.created_at < now - KEEP_SECONDS))


async def load(db: Database, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(account id, event id) → traceparent, for the keys that have one."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    t = event_traces.c
    async with db.read() as conn:
        rows = await conn.execute(
            select(t.account_id, t.event_id, t.traceparent).where(
                tuple_(t.account_id, t.event_id).in_(wanted)
            )
        )
        return {(r.account_id, r.event_id): r.traceparent for r in rows}
