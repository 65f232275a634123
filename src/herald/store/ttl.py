"""LivePerson TTL installations in the database: apply state transitions, hold and release stored events.

The state lives in `installations.state`. Every change is a compare-and-set (`WHERE state = <old>`) in one
write transaction together with the new state's entry effects (herald.domain.ttl.ENTRY_EFFECTS) and the
history row (`announce_state_change`), so any number of workers on PostgreSQL may report outcomes at
once: exactly one of them moves the installation, the others find the state already changed.

"Stored" events are ordinary queue rows whose `available_at` is `HELD_AT`: no claim picks them up, and
releasing them is one UPDATE. Order per conversation comes from the queue itself: every row of a TTL
installation carries its conversation as ordering key, so only the head of a conversation is ever sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.operational import INSTALLATION_STATE_CHANGED
from herald.domain.profiles import iso_timestamp
from herald.domain.ttl import (
    ENTRY_EFFECTS,
    HELD_AT,
    TTL_PROFILE,
    Effect,
    Signal,
    State,
    combine,
    counts_as_failure,
    is_probe_answer,
    next_state,
)
from herald.ids import new_id
from herald.store import operational
from herald.store.database import Database
from herald.store.pagination import page, split_page
from herald.store.tables import installation_transitions, installations, queue, subscriptions
from herald.store.tables import ttl_drain_conversations as drains

REASONS = {
    Signal.FAILURE: "delivery_failed",
    Signal.ANSWERED: "endpoints_answer",
    Signal.STORE_EMPTY: "store_empty",
    Signal.DRAIN_ENDED: "drain_ended",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt of a delivery that belongs to a TTL installation, as the dispatcher saw it."""

    account_id: str
    subscription_id: str
    attempted_at: float
    succeeded: bool
    max_retries: int | None


@dataclass(frozen=True, slots=True)
class Transition:
    installation_id: str
    old: State
    new: State
    at: float
    reason: str


async def announce_state_change(
    conn: AsyncConnection,
    installation: dict[str, Any],
    old: State,
    new: State,
    at: float,
    reason: str = "",
) -> None:
    """Record the transition and emit `installation.state_changed` in the caller's transaction: never one
    without the other."""
    await conn.execute(
        insert(installation_transitions),
        {
            "id": new_id("itr"),
            "installation_id": installation["id"],
            "application_id": installation["application_id"],
            "account_id": installation["account_id"],
            "from_state": old.value,
            "to_state": new.value,
            "reason": reason,
            "created_at": at,
        },
    )
    await operational.emit(
        conn,
        application_id=installation["application_id"],
        account_id=installation["account_id"],
        type=INSTALLATION_STATE_CHANGED,
        data={
            "installation_id": installation["id"],
            "application_id": installation["application_id"],
            "account_id": installation["account_id"],
            "state": new.value,
            "previous_state": old.value,
            "reason": reason,
            "changed_at": iso_timestamp(at),
        },
    )


def _rows_of(installation: dict[str, Any]) -> Any:
    """The queue rows of an installation: its application's connector subscriptions, in its account."""
    subs = select(subscriptions.c.id).where(
        subscriptions.c.application_id == installation["application_id"],
        subscriptions.c.profile == TTL_PROFILE,
    )
    return and_(queue.c.account_id == installation["account_id"], queue.c.subscription_id.in_(subs))


async def _effects(
    conn: AsyncConnection, installation: dict[str, Any], new: State, now: float, drain_period: float
) -> dict[str, Any]:
    """Run the entry effects of `new`; returns the installation columns they change."""
    rows = _rows_of(installation)
    changes: dict[str, Any] = {}
    for effect in ENTRY_EFFECTS[new]:
        if effect is Effect.HOLD:
            # Rows already retried keep their schedule: they are the probes. Everything else is stored.
            await conn.execute(
                update(queue)
                .where(rows, queue.c.attempts == 0, queue.c.available_at < HELD_AT)
                .values(available_at=HELD_AT)
            )
        elif effect is Effect.RELEASE:
            await _remember_conversations(conn, installation["id"], rows)
            # One UPDATE: the queue's heads per (subscription, conversation) keep them in publish order.
            await conn.execute(
                update(queue).where(rows, queue.c.available_at >= HELD_AT).values(available_at=now)
            )
        elif effect is Effect.START_DRAIN:
            changes["drain_until"] = now + drain_period
        elif effect is Effect.END_DRAIN:
            await conn.execute(delete(drains).where(drains.c.installation_id == installation["id"]))
            changes["drain_until"] = None
    return changes


async def _remember_conversations(conn: AsyncConnection, installation_id: str, rows: Any) -> None:
    keys = set(
        (
            await conn.execute(
                select(queue.c.ordering_key).distinct().where(rows, queue.c.ordering_key.is_not(None))
            )
        ).scalars()
    )
    known = set(
        (
            await conn.execute(
                select(drains.c.ordering_key).where(drains.c.installation_id == installation_id)
            )
        ).scalars()
    )
    if fresh := keys - known:
        await conn.execute(
            insert(drains), [{"installation_id": installation_id, "ordering_key": k} for k in sorted(fresh)]
        )


async def _move(
    conn: AsyncConnection,
    installation: dict[str, Any],
    new: State,
    now: float,
    reason: str,
    drain_period: float,
) -> Transition | None:
    """Compare-and-set the state; on success run the effects and record the change."""
    old = State(installation["state"])
    result = await conn.execute(
        update(installations)
        .where(installations.c.id == installation["id"], installations.c.state == old.value)
        .values(state=new.value, state_changed_at=now, updated_at=now)
    )
    if result.rowcount != 1:
        return None  # another worker moved it first
    changes = await _effects(conn, installation, new, now, drain_period)
    if changes:
        await conn.execute(
            update(installations).where(installations.c.id == installation["id"]).values(**changes)
        )
    await announce_state_change(conn, installation, old, new, now, reason)
    return Transition(installation["id"], old, new, now, reason)


async def report(db: Database, outcomes: Sequence[Outcome], drain_period: float) -> list[Transition]:
    """Apply what a batch of attempts says about their installations, in one transaction."""
    if not outcomes:
        return []
    inst, sub = installations, subscriptions
    wanted = {(o.account_id, o.subscription_id) for o in outcomes}
    now = time.time()
    moved: list[Transition] = []
    async with db.write() as conn:
        found = (
            await conn.execute(
                select(inst, sub.c.id.label("subscription_id"))
                .select_from(inst.join(sub, sub.c.application_id == inst.c.application_id))
                .where(
                    sub.c.id.in_({s for _, s in wanted}),
                    sub.c.profile == TTL_PROFILE,
                    inst.c.account_id.in_({a for a, _ in wanted}),
                    inst.c.retention_time.is_not(None),
                )
            )
        ).mappings()
        by_pair: dict[tuple[str, str], dict[str, Any]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for r in found:
            row = {k: v for k, v in r.items() if k != "subscription_id"}
            rows[row["id"]] = row
            by_pair[(row["account_id"], r["subscription_id"])] = row
        signals: dict[str, set[Signal]] = {}
        for o in outcomes:
            hit = by_pair.get((o.account_id, o.subscription_id))
            if hit is None:
                continue
            state = State(hit["state"])
            if not o.succeeded and counts_as_failure(o.max_retries):
                signals.setdefault(hit["id"], set()).add(Signal.FAILURE)
            elif o.succeeded and is_probe_answer(state, o.attempted_at, hit["state_changed_at"]):
                signals.setdefault(hit["id"], set()).add(Signal.ANSWERED)
        for inst_id, sigs in signals.items():
            signal = combine(sigs)
            row = rows[inst_id]
            new = next_state(State(row["state"]), signal) if signal else None
            if signal is None or new is None:
                continue
            if (t := await _move(conn, row, new, now, REASONS[signal], drain_period)) is not None:
                moved.append(t)
    return moved


async def _store_empty(conn: AsyncConnection, installation: dict[str, Any]) -> bool:
    """Nothing of the store is left: no held row, none queued before the release, and none of a stored
    conversation (events of stored conversations are appended to the store)."""
    stored_keys = select(drains.c.ordering_key).where(drains.c.installation_id == installation["id"])
    count = await conn.scalar(
        select(func.count())
        .select_from(queue)
        .where(
            _rows_of(installation),
            or_(
                queue.c.available_at >= HELD_AT,
                queue.c.created_at <= installation["state_changed_at"],
                queue.c.ordering_key.in_(stored_keys),
            ),
        )
    )
    return not count


async def _probe(conn: AsyncConnection, installation: dict[str, Any], now: float) -> None:
    """A FAILED installation whose failing deliveries are gone (delivered, expired or dropped) has nothing
    left that finds out whether its endpoints answer again: make its oldest stored event due, as a probe."""
    rows = _rows_of(installation)
    retrying = await conn.scalar(
        select(func.count()).select_from(queue).where(rows, queue.c.available_at < HELD_AT)
    )
    if retrying:
        return
    oldest = await conn.scalar(select(func.min(queue.c.seq)).where(rows, queue.c.available_at >= HELD_AT))
    if oldest is not None:
        await conn.execute(update(queue).where(queue.c.seq == oldest).values(available_at=now))


async def tick(db: Database, drain_period: float, now: float | None = None) -> list[Transition]:
    """The time-driven part, run now and then by every worker: IN_TRANSITION → RECOVERED once the store is
    empty, RECOVERED → UP at the end of the drain period, a probe for a FAILED installation that has none.
    An installation whose TTL was switched off while not UP gets its stored events back and goes UP."""
    now = time.time() if now is None else now
    async with db.read() as conn:
        pending = [
            dict(r)
            for r in (
                await conn.execute(select(installations).where(installations.c.state != State.UP.value))
            )
            .mappings()
            .all()
        ]
    moved: list[Transition] = []
    for row in pending:
        async with db.write() as conn:
            state = State(row["state"])
            t: Transition | None = None
            if row["retention_time"] is None:
                await conn.execute(
                    update(queue)
                    .where(_rows_of(row), queue.c.available_at >= HELD_AT)
                    .values(available_at=now)
                )
                t = await _move(conn, row, State.UP, now, "ttl_off", drain_period)
            elif state is State.FAILED:
                await _probe(conn, row, now)
            elif state is State.IN_TRANSITION and await _store_empty(conn, row):
                t = await _move(conn, row, State.RECOVERED, now, REASONS[Signal.STORE_EMPTY], drain_period)
            elif state is State.RECOVERED and (row["drain_until"] or 0) <= now:
                t = await _move(conn, row, State.UP, now, REASONS[Signal.DRAIN_ENDED], drain_period)
            if t is not None:
                moved.append(t)
    return moved


async def unsettled(db: Database) -> set[tuple[str, str]]:
    """(account id, subscription id) of every TTL installation that is not UP: only there can a success
    change anything, so the dispatcher reports other successes not at all."""
    inst, sub = installations, subscriptions
    query = (
        select(inst.c.account_id, sub.c.id)
        .select_from(inst.join(sub, sub.c.application_id == inst.c.application_id))
        .where(inst.c.state != State.UP.value, sub.c.profile == TTL_PROFILE)
    )
    async with db.read() as conn:
        return {(r[0], r[1]) for r in await conn.execute(query)}


async def transitions(
    db: Database, installation_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The installation's state changes, newest first."""
    t = installation_transitions
    query = page(
        select(t).where(t.c.installation_id == installation_id), t.c.created_at, t.c.id, limit, cursor
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


def outcomes_of(records: Iterable[Any]) -> list[Outcome]:
    """The attempts of TTL deliveries (their queue row carries a retention time) among a flush's records."""
    return [
        Outcome(
            r.claimed.account_id,
            r.claimed.subscription_id,
            r.attempted_at,
            r.succeeded,
            r.claimed.max_retries,
        )
        for r in records
        if r.claimed.retention_time is not None and not r.claimed.manual
    ]
