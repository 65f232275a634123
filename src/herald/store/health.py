"""Endpoint health in the recorder's batch transaction: one read and one write of the touched subscriptions
per batch (never a query per delivery), then the operational events the batch caused.

Every worker's recorder folds its attempts into the same subscription rows (locked FOR UPDATE on
PostgreSQL, in id order), so consecutive failures, the slow window and disabling are shared by all workers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any

from herald.domain import operational as ops
from herald.domain.health import PARK_SECONDS, HealthPolicy, HealthState, Notice, Observation, observe
from herald.domain.models import AttemptRecord, ClaimedDelivery, DeliveryStatus, ErrorKind
from herald.domain.profiles import iso_timestamp
from herald.domain.ttl import HELD_AT
from herald.store.operational import emit_pg, emit_sqlite

STATE_COLUMNS = [f.name for f in fields(HealthState)]
_COLS = ", ".join(STATE_COLUMNS)
SELECT_SQLITE = (
    "SELECT id, application_id, account_id, url, " + _COLS + " FROM subscriptions WHERE id IN ({marks})"
)
UPDATE_SQLITE = "UPDATE subscriptions SET " + ", ".join(f"{c} = ?" for c in STATE_COLUMNS) + " WHERE id = ?"
SELECT_PG_UNLOCKED = (
    "SELECT id, application_id, account_id, url, " + _COLS + " FROM subscriptions WHERE id = ANY($1::text[])"
)
SELECT_PG = SELECT_PG_UNLOCKED + " ORDER BY id FOR UPDATE"
# Parked until enabled, or (deliveries with a time to live) until they expire, when the dispatcher finishes
# them as dead without an attempt. Rows a LivePerson TTL installation stores (HELD_AT) stay under its state
# machine, as in endpoint_health.park.
PARK_SQLITE = """
UPDATE queue SET available_at = CASE WHEN retention_time IS NOT NULL AND created_at + retention_time < ?1
                                     THEN created_at + retention_time ELSE ?1 END
WHERE subscription_id = ?2 AND available_at < ?3
"""
PARK_PG = """
UPDATE queue SET available_at = CASE WHEN retention_time IS NOT NULL AND created_at + retention_time < $1
                                     THEN created_at + retention_time ELSE $1 END
WHERE subscription_id = ANY($2::text[]) AND available_at < $3
"""
UPDATE_PG = (
    "UPDATE subscriptions SET "
    + ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(STATE_COLUMNS))
    + f" WHERE id = ${len(STATE_COLUMNS) + 1}"
)


@dataclass(frozen=True, slots=True)
class Sub:
    id: str
    application_id: str | None
    account_id: str | None
    url: str
    state: HealthState


Emit = dict[str, Any]  # keyword arguments of operational.emit


_BOOLEANS = ("enabled", "failing")  # SQLite returns 0/1


def _sub(row: Mapping[str, Any]) -> Sub:
    """A subscription's health row, read by column name (a sqlite3.Row or an asyncpg Record)."""
    state: dict[str, Any] = {c: bool(row[c]) if c in _BOOLEANS else row[c] for c in STATE_COLUMNS}
    return Sub(row["id"], row["application_id"], row["account_id"], row["url"], HealthState(**state))


def observation(r: AttemptRecord) -> Observation:
    # Seen when the answer (or its absence) was known: a 3 s response counts at its end.
    timed = r.status_code is not None or r.error_kind is ErrorKind.READ_TIMEOUT
    at = r.attempted_at + r.duration_ms / 1000
    return Observation(at, r.succeeded, r.status_code, r.duration_ms if timed else None)


def _counted(results: Sequence[AttemptRecord]) -> dict[str, list[AttemptRecord]]:
    """Attempts that say something about the endpoint (not Herald's own failures), per subscription."""
    by_sub: dict[str, list[AttemptRecord]] = {}
    for r in results:
        if r.error_kind is not ErrorKind.INTERNAL:
            by_sub.setdefault(r.claimed.subscription_id, []).append(r)
    for records in by_sub.values():
        records.sort(key=lambda r: r.attempted_at)
    return by_sub


def _endpoint(sub: Sub) -> dict[str, Any]:
    return {
        "subscription_id": sub.id,
        "application_id": sub.application_id,
        "account_id": sub.account_id,
        "url": sub.url,
    }


def _attempt(sub: Sub, r: AttemptRecord) -> dict[str, Any]:
    return _delivery(sub, r.claimed, r.claimed.attempts + 1, r.status_code, r.error_kind)


def _delivery(
    sub: Sub, c: ClaimedDelivery, attempts: int, status_code: int | None, error_kind: ErrorKind | None
) -> dict[str, Any]:
    return {
        **_endpoint(sub),
        "account_id": c.account_id,
        "delivery_id": c.delivery_id,
        "event_id": c.event_id,
        "event_type": c.event_type,
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error_kind": error_kind.value if error_kind else None,
    }


def _notice_event(sub: Sub, n: Notice, r: AttemptRecord) -> Emit:
    if n.kind == "disabled":
        data = {
            **_endpoint(sub),
            "reason": n.reason,
            "trigger": n.trigger,
            "at": iso_timestamp(r.attempted_at),
        }
        return {"account_id": sub.account_id, "type": ops.ENDPOINT_DISABLED, "data": data}
    data = _attempt(sub, r)
    if n.kind == "failing":
        data["consecutive_failures"] = n.consecutive_failures
        return {"account_id": r.claimed.account_id, "type": ops.ATTEMPT_FAILING, "data": data}
    return {"account_id": r.claimed.account_id, "type": ops.ATTEMPT_RECOVERED, "data": data}


def newly_disabled(subs: dict[str, Sub], updates: list[tuple[str, HealthState]]) -> list[str]:
    return [sub_id for sub_id, state in updates if not state.enabled and subs[sub_id].state.enabled]


def plan(
    subs: dict[str, Sub], by_sub: dict[str, list[AttemptRecord]], policy: HealthPolicy
) -> tuple[list[tuple[str, HealthState]], list[tuple[Sub, Emit]]]:
    updates: list[tuple[str, HealthState]] = []
    emits: list[tuple[Sub, Emit]] = []
    for sub_id, records in by_sub.items():
        sub = subs.get(sub_id)
        if sub is None:
            continue  # deleted meanwhile
        state, notices = observe(sub.state, [observation(r) for r in records], policy)
        updates.append((sub_id, state))
        for n in notices:
            emits.append((sub, _notice_event(sub, n, records[n.index])))
    return updates, emits


def exhausted(
    subs: dict[str, Sub], results: Sequence[AttemptRecord], owned_finished: set[int]
) -> list[tuple[Sub, Emit]]:
    """Deliveries this batch finished as dead after their automatic retries."""
    out = []
    for r in results:
        sub = subs.get(r.claimed.subscription_id)
        if (
            sub is not None
            and r.final_status is DeliveryStatus.DEAD
            and not r.claimed.manual
            and r.claimed.seq in owned_finished
        ):
            data = {**_attempt(sub, r), "reason": ops.RETRIES_EXHAUSTED}
            out.append(
                (sub, {"account_id": r.claimed.account_id, "type": ops.ATTEMPT_EXHAUSTED, "data": data})
            )
    return out


def expired(subs: dict[str, Sub], claimed: Sequence[ClaimedDelivery], owned: set[int]) -> list[Emit]:
    """Deliveries finished as dead without an attempt because their time to live ran out while their
    endpoint was disabled: announced as exhausted too, with the reason."""
    out = []
    for c in claimed:
        sub = subs.get(c.subscription_id)
        if sub is not None and c.seq in owned:
            data = {**_delivery(sub, c, c.attempts, None, None), "reason": ops.EXPIRED}
            out.append((sub, {"account_id": c.account_id, "type": ops.ATTEMPT_EXHAUSTED, "data": data}))
    return _wanted(out)


def _wanted(emits: list[tuple[Sub, Emit]]) -> list[Emit]:
    # The system subscriptions that carry operational events report on nobody (no loops).
    return [
        {"application_id": sub.application_id, **e}
        for sub, e in emits
        if not ops.is_system_account(sub.account_id)
    ]


# ---------------------------------------------------------------------------------------------- SQLite


def load_sqlite(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Sub]:
    if not ids:
        return {}
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    rows = cur.execute(SELECT_SQLITE.format(marks=",".join("?" * len(ids))), list(ids)).fetchall()
    return {r["id"]: _sub(r) for r in rows}


def apply_sqlite(
    conn: sqlite3.Connection,
    results: Sequence[AttemptRecord],
    owned_finished: set[int],
    policy: HealthPolicy,
) -> None:
    by_sub = _counted(results)
    subs = load_sqlite(conn, sorted({r.claimed.subscription_id for r in results}))
    updates, emits = plan(subs, by_sub, policy)
    conn.executemany(UPDATE_SQLITE, [(*astuple(state), sub_id) for sub_id, state in updates])
    park = time.time() + PARK_SECONDS
    conn.executemany(PARK_SQLITE, [(park, sub_id, HELD_AT) for sub_id in newly_disabled(subs, updates)])
    for e in _wanted(emits + exhausted(subs, results, owned_finished)):
        emit_sqlite(conn, **e)


# ------------------------------------------------------------------------------------------ PostgreSQL


async def lock_and_update_pg(
    pg: Any, results: Sequence[AttemptRecord], policy: HealthPolicy
) -> tuple[dict[str, Sub], list[tuple[str, HealthState]], list[tuple[Sub, Emit]]]:
    """First in the recorder's transaction (subscription rows before queue rows, like deletion does)."""
    ids = sorted({r.claimed.subscription_id for r in results})
    subs = {r["id"]: _sub(r) for r in await pg.fetch(SELECT_PG, ids)}
    updates, emits = plan(subs, _counted(results), policy)
    if updates:
        await pg.executemany(UPDATE_PG, [(*astuple(state), sub_id) for sub_id, state in updates])
    return subs, updates, emits


def announce_expired_sqlite(
    conn: sqlite3.Connection, claimed: Sequence[ClaimedDelivery], owned: set[int]
) -> None:
    subs = load_sqlite(conn, sorted({c.subscription_id for c in claimed}))
    for e in expired(subs, claimed, owned):
        emit_sqlite(conn, **e)


async def announce_expired_pg(pg: Any, claimed: Sequence[ClaimedDelivery], owned: set[int]) -> None:
    ids = sorted({c.subscription_id for c in claimed})
    subs = {r["id"]: _sub(r) for r in await pg.fetch(SELECT_PG_UNLOCKED, ids)}
    for e in expired(subs, claimed, owned):
        await emit_pg(pg, **e)


async def finish_pg(
    pg: Any,
    subs: dict[str, Sub],
    updates: list[tuple[str, HealthState]],
    emits: list[tuple[Sub, Emit]],
) -> None:
    """Last in the recorder's transaction: park the queue rows of endpoints it disabled (after their
    retries were rescheduled) and emit the operational events."""
    if parked := newly_disabled(subs, updates):
        await pg.execute(PARK_PG, time.time() + PARK_SECONDS, parked, HELD_AT)
    for e in _wanted(emits):
        await emit_pg(pg, **e)
