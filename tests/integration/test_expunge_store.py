"""Expunge on both backends: the event's data and its attempts' response bodies are gone from the tables,
the metadata stays; queued deliveries stop; resend refuses; recover and replay skip the event."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, text

from herald.background.jobs import JobRunner
from herald.config import Settings
from herald.domain.models import DeliveryStatus
from herald.store import jobs as job_store
from herald.store import queue as q
from herald.store.database import Database
from herald.store.deliveries import get_delivery, resend
from herald.store.errors import Conflict, NotFound
from herald.store.expunge import expunge_event
from herald.store.jobs import JobKind, JobOwner
from herald.store.publish import NewEvent
from herald.store.tables import attempts, deliveries, events, queue

if TYPE_CHECKING:
    from conftest import Kit

SECRET = "subject-4711-home-address"


async def _two_events(db: Database, kit: Kit) -> dict[str, str]:
    """e1 (secret data, a LiveChat-style context) and e2, each attempted once with the secret echoed back
    in the response body; e1's delivery dead, e2's delivered."""
    sub = await kit.subscription("a1")
    await kit.publish(
        "a1",
        NewEvent(
            "e1",
            "incoming_chat",
            1.0,
            f'{{"address": "{SECRET}"}}',
            context={"chat_properties": {"x": {"y": SECRET}}},
        ),
        NewEvent("e2", "t", 1.0, '{"address": "kept"}'),
    )
    claimed = await q.claim(db, 10, 30)
    await q.record(
        db,
        [
            kit.record(c, succeeded=False, status_code=500, response_body=f"echo {SECRET}")
            if c.event_id == "e1"
            else kit.record(c, response_body="echo kept")
            for c in claimed
        ],
    )
    return {"sub": sub["id"], **{c.event_id: c.delivery_id for c in claimed}}


async def _raw_bytes_anywhere(db: Database, needle: str) -> list[str]:
    """Every events/attempts/deliveries/queue column that still holds the needle, read as text."""
    found: list[str] = []
    async with db.read() as conn:
        for table in (events, attempts, deliveries, queue):
            for column in table.c:
                cast = f"CAST({column.name} AS TEXT)"
                hits = await conn.scalar(
                    text(f"SELECT count(*) FROM {table.name} WHERE {cast} LIKE :n"), {"n": f"%{needle}%"}
                )
                if hits:
                    found.append(f"{table.name}.{column.name}")
    return found


async def test_expunge_removes_the_bytes_and_keeps_the_metadata(db: Database, kit: Kit) -> None:
    ids = await _two_events(db, kit)
    assert set(await _raw_bytes_anywhere(db, SECRET)) == {
        "events.data",
        "events.context",
        "attempts.response_body",
    }
    before = time.time()
    done = await expunge_event(db, "a1", "e1")
    assert done.attempts_cleared == 1
    assert done.deliveries_stopped == 0
    assert done.expunged_at >= before

    assert await _raw_bytes_anywhere(db, SECRET) == []
    row = await kit.one(events, events.c.id == "e1")
    assert (row["data"], row["context"], row["type"], row["expunged_at"]) == (
        "null",
        None,
        "incoming_chat",
        done.expunged_at,
    )
    [attempt] = await kit.rows(attempts, attempts.c.delivery_id == ids["e1"])
    assert (attempt["response_body"], attempt["status_code"], attempt["attempt"]) == (None, 500, 1)
    assert attempt["request_headers"]  # the audit trail stays
    # The other event is untouched.
    assert (await kit.one(events, events.c.id == "e2"))["expunged_at"] is None
    [other] = await kit.rows(attempts, attempts.c.delivery_id == ids["e2"])
    assert other["response_body"] == "echo kept"

    detail = await get_delivery(db, "a1", ids["e1"])
    assert detail["event"]["data"] is None
    assert detail["event"]["expunged_at"] == done.expunged_at
    assert detail["status"] == DeliveryStatus.DEAD


async def test_expunge_again_keeps_the_first_time(db: Database, kit: Kit) -> None:
    await _two_events(db, kit)
    first = await expunge_event(db, "a1", "e1")
    again = await expunge_event(db, "a1", "e1")
    assert again.expunged_at == first.expunged_at
    assert again.attempts_cleared == 0


async def test_expunge_is_scoped_to_the_account(db: Database, kit: Kit) -> None:
    await _two_events(db, kit)
    with pytest.raises(NotFound) as info:
        await expunge_event(db, "a2", "e1")
    assert info.value.data == {"field": "event_id"}
    assert SECRET in (await kit.one(events, events.c.id == "e1"))["data"]


async def test_expunge_stops_queued_deliveries(db: Database, kit: Kit) -> None:
    await kit.subscription("a1")
    await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"), ("e2", "t"))
    done = await expunge_event(db, "a1", "e1")
    assert done.deliveries_stopped == 2
    assert {r["event_id"] for r in await kit.rows(queue)} == {"e2"}
    stopped = await kit.rows(deliveries, deliveries.c.event_id == "e1")
    assert {(r["status"], r["next_attempt_at"]) for r in stopped} == {(DeliveryStatus.DEAD, None)}
    assert all(r["finished_at"] is not None for r in stopped)
    assert {c.event_id for c in await q.claim(db, 10, 30)} == {"e2"}


async def test_resend_of_an_expunged_event_is_refused(db: Database, kit: Kit) -> None:
    ids = await _two_events(db, kit)
    await expunge_event(db, "a1", "e1")
    with pytest.raises(Conflict) as info:
        await resend(db, "a1", ids["e1"])
    assert info.value.data["reason"] == "expunged"
    assert info.value.data["field"] == "event_id"
    assert "expunged" in info.value.message
    assert await kit.rows(queue) == []
    await resend(db, "a1", ids["e2"])  # the other event still resends
    assert [r["event_id"] for r in await kit.rows(queue)] == ["e2"]


async def test_recover_and_replay_skip_expunged_events(db: Database, kit: Kit) -> None:
    ids = await _two_events(db, kit)
    # Make e2's delivery dead too, so recover would pick both.
    async with db.write() as conn:
        await conn.execute(
            deliveries.update().where(deliveries.c.id == ids["e2"]).values(status=DeliveryStatus.DEAD.value)
        )
    await expunge_event(db, "a1", "e1")
    owner = JobOwner(account_id="a1")
    run = JobRunner(db, Settings(job_batch=100, job_lease_seconds=60))
    recover, _ = await job_store.create_job(
        db,
        owner,
        JobKind.RECOVER,
        ids["sub"],
        {"since": 0.0, "until": time.time() + 1, "include_retrying": False},
        None,
    )
    await run.run_once()
    assert [r["event_id"] for r in await kit.rows(queue)] == ["e2"]
    assert (await job_store.get_job(db, owner, recover["id"]))["affected"] == 1
    async with db.write() as conn:
        await conn.execute(queue.delete())
    replay, _ = await job_store.create_job(
        db,
        owner,
        JobKind.REPLAY,
        ids["sub"],
        {"since": 0.0, "until": time.time() + 1, "event_types": None, "filter": None},
        None,
    )
    await run.run_once()
    replayed = await kit.rows(deliveries, deliveries.c.replay_of == replay["id"])
    assert [r["event_id"] for r in replayed] == ["e2"]
    job = await job_store.get_job(db, owner, replay["id"])
    assert (job["total"], job["affected"]) == (1, 1)
    async with db.read() as conn:
        assert await conn.scalar(select(events.c.data).where(events.c.id == "e1")) == "null"
