"""Replay delivers exactly what publish would have (both backends): the same events, to the same
subscription, with the same ordering key, retry policy and hold, because both ask one routing module
(herald.domain.routing, herald.store.routing).

Each test publishes, records what publish queued for the subscription, replays the whole window and
compares. Bugs (a) to (e) of issue 12 were each confirmed by the test named after it failing before the fix.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import select, update

from herald.background.jobs import JobRunner
from herald.config import Settings
from herald.domain.ttl import HELD_AT
from herald.store import jobs as job_store
from herald.store import livechat as livechat_store
from herald.store.database import Database
from herald.store.jobs import JobKind, JobOwner
from herald.store.publish import NewEvent
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries, installations, queue

if TYPE_CHECKING:
    from conftest import Kit

# (ordering key, max_retries, retention_time, held) of one queued delivery
Policy = tuple[str | None, int | None, int | None, bool]


async def _queued(db: Database, sub_id: str, replay_of: str | None) -> list[tuple[str, str, Policy]]:
    """(account, event, policy) of the subscription's queue rows, in queue order: the originals
    (replay_of None) or one job's replays."""
    q, d = queue.c, deliveries.c
    marked = d.replay_of.is_(None) if replay_of is None else d.replay_of == replay_of
    query = (
        select(q.account_id, q.event_id, q.ordering_key, q.max_retries, q.retention_time, q.available_at)
        .select_from(queue.join(deliveries, d.id == q.delivery_id))
        .where(q.subscription_id == sub_id, marked)
        .order_by(q.seq)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [(r[0], r[1], (r[2], r[3], r[4], r[5] >= HELD_AT)) for r in rows]


async def replay_matches_publish(db: Database, owner: JobOwner, sub_id: str) -> list[tuple[str, str, Policy]]:
    """Replay all events of the subscription's owner(s) and assert it queued what publish queued, in the
    same order; returns what publish queued."""
    published = await _queued(db, sub_id, None)
    job, _ = await job_store.create_job(
        db, owner, JobKind.REPLAY, sub_id, {"since": 0.0, "until": 1e10, "event_types": None}, None
    )
    assert await JobRunner(db, Settings(job_batch=500, job_lease_seconds=60)).run_once()
    assert await _queued(db, sub_id, job["id"]) == published
    return published


CHAT_USERS = {"e1": ["u1", "u2"], "e2": ["u3"], "e3": ["u2"], "e4": []}


def chat(event_id: str) -> NewEvent:
    users = [{"id": u, "type": "agent"} for u in CHAT_USERS[event_id]]
    data = {"chat": {"id": "C" + event_id, "users": users}}
    return NewEvent(event_id, "incoming_chat", 1.0, orjson.dumps(data).decode())


async def register(db: Database, box: SecretBox, app: dict[str, Any], **filters: Any) -> str:
    return await livechat_store.register_webhook(
        db,
        box,
        app["id"],
        url="https://example.com/hook",
        action="incoming_chat",
        secret_key="s3cret",
        description=None,
        options={
            "version": "v3.5",
            "type": "license",
            "owner_client_id": app["client_id"],
            "filters": filters,
            "additional_data": [],
        },
    )


async def test_a_livechat_filters_hold_on_replay(db: Database, box: SecretBox, kit: Kit) -> None:
    """(a) A webhook filtered on chat_presence.user_ids got 2 of 4 events at publish, all 4 on replay."""
    app = await kit.application()
    await kit.install(app["id"], "a1")
    await livechat_store.set_license_webhooks(db, app["id"], "a1", True)
    hook = await register(db, box, app, chat_presence={"user_ids": {"values": ["u2"]}})
    await kit.publish("a1", *(chat(e) for e in CHAT_USERS))
    published = await replay_matches_publish(db, JobOwner(application_id=app["id"]), hook)
    assert [e for _, e, _ in published] == ["e1", "e3"]


async def test_a_the_producers_context_holds_on_replay(db: Database, box: SecretBox, kit: Kit) -> None:
    """What a producer gave beside the payload (here the source client) is what the replay matches on."""
    app = await kit.application()
    await kit.install(app["id"], "a1")
    await livechat_store.set_license_webhooks(db, app["id"], "a1", True)
    hook = await register(db, box, app, only_my_chats=True)
    await kit.publish("a1", replace(chat("e1"), context={"source_client_id": app["client_id"]}))
    await kit.publish("a1", chat("e2"))
    published = await replay_matches_publish(db, JobOwner(application_id=app["id"]), hook)
    assert [e for _, e, _ in published] == ["e1"]


async def test_b_a_license_with_webhooks_disabled_gets_no_replay(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    """(b) After disable_license_webhooks publish delivered 0 and a replay of the window 4."""
    app = await kit.application()
    await kit.install(app["id"], "a1")
    await kit.install(app["id"], "a2")
    hook = await register(db, box, app)
    await livechat_store.set_license_webhooks(db, app["id"], "a1", False)
    await livechat_store.set_license_webhooks(db, app["id"], "a2", True)
    for account in ("a1", "a2"):
        await kit.publish(account, *(chat(e) for e in CHAT_USERS))
    published = await replay_matches_publish(db, JobOwner(application_id=app["id"]), hook)
    assert {a for a, _, _ in published} == {"a2"} and len(published) == 4


async def test_c_a_failed_ttl_installation_holds_replays_in_order(db: Database, kit: Kit) -> None:
    """(c) A FAILED TTL installation's replays were sent at once, without their ordering key."""
    app = await kit.application()
    inst = await kit.install(app["id"], "a1", retention_time=600)
    sub = await kit.subscription(None, application_id=app["id"], profile="liveperson-connector")
    async with db.write() as conn:
        await conn.execute(
            update(installations).where(installations.c.id == inst["id"]).values(state="FAILED")
        )
    await kit.publish(
        "a1",
        *(NewEvent(f"e{i}", "cqm.ExConversationChangeNotification", 1.0, "{}", "c1") for i in range(1, 5)),
    )
    published = await replay_matches_publish(db, JobOwner(application_id=app["id"]), sub["id"])
    assert published == [("a1", f"e{i}", ("c1", None, 600, True)) for i in range(1, 5)]


async def test_d_a_livechat_webhook_keeps_its_policy_beside_a_liveperson_installation(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    """(d) The replay took the installation's LivePerson max_retries 0 and died after one attempt."""
    app = await kit.application()
    await kit.install(app["id"], "a1", max_retries=0)
    await livechat_store.set_license_webhooks(db, app["id"], "a1", True)
    hook = await register(db, box, app)
    await kit.publish("a1", chat("e1"), chat("e2"))
    published = await replay_matches_publish(db, JobOwner(application_id=app["id"]), hook)
    assert published == [("a1", "e1", (None, None, None, False)), ("a1", "e2", (None, None, None, False))]


async def test_e_an_account_connectors_own_retention_time_holds_on_replay(db: Database, kit: Kit) -> None:
    """(e) An account subscription's own retention_time was ignored by replay (retry by count instead)."""
    sub = await kit.subscription("a1", profile="liveperson-connector", retention_time=300)
    await kit.publish("a1", NewEvent("e1", "t", 1.0, "{}", "c1"), NewEvent("e2", "t", 1.0, "{}", "c1"))
    published = await replay_matches_publish(db, JobOwner(account_id="a1"), sub["id"])
    assert published == [("a1", "e1", ("c1", None, 300, False)), ("a1", "e2", ("c1", None, 300, False))]


async def test_a_payload_filter_holds_on_replay(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1", filter={"n": {"$gte": 2}}, max_retries=4)
    await kit.publish("a1", *(NewEvent(f"e{n}", "t", 1.0, f'{{"n": {n}}}') for n in range(1, 5)))
    published = await replay_matches_publish(db, JobOwner(account_id="a1"), sub["id"])
    assert [e for _, e, _ in published] == ["e2", "e3", "e4"] and published[0][2] == (None, 4, None, False)


async def test_an_ordered_subscription_keeps_its_keys_on_replay(db: Database, kit: Kit) -> None:
    sub = await kit.subscription("a1", ordered=True)
    await kit.subscription("a1")  # unordered: its rows have no key, and are not this subscription's
    await kit.publish("a1", *(NewEvent(f"e{i}", "t", 1.0, "{}", f"k{i % 2}") for i in range(1, 5)))
    published = await replay_matches_publish(db, JobOwner(account_id="a1"), sub["id"])
    assert [p[0] for _, _, p in published] == ["k1", "k0", "k1", "k0"]
