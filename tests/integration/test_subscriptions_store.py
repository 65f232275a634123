"""Subscriptions: ownership, secrets, updates, deletion and the dispatcher's endpoint view."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from herald.domain.models import DeliveryStatus
from herald.store import queue as queue_store
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import (
    Owner,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    load_endpoints,
    update_subscription,
)
from herald.store.tables import deliveries, queue, subscriptions

if TYPE_CHECKING:
    from conftest import Kit


async def test_create_account_standard(db: Database, box: SecretBox, kit: Kit) -> None:
    sub = await kit.subscription("a1", event_types=["order.*"], name="orders")
    assert sub["id"].startswith("sub_")
    assert sub["secret"].startswith("whsec_")
    assert (sub["account_id"], sub["application_id"], sub["client_id"], sub["enabled"]) == (
        "a1",
        None,
        None,
        True,
    )
    stored = await kit.one(subscriptions, subscriptions.c.id == sub["id"])
    assert stored["secret"] != sub["secret"]
    assert box.decrypt(stored["secret"]) == sub["secret"]
    got = await get_subscription(db, Owner(account_id="a1"), sub["id"])
    assert "secret" not in got
    assert got["event_types"] == ["order.*"]
    assert got["name"] == "orders"


async def test_create_account_liveperson_gets_own_client_id(kit: Kit) -> None:
    sub = await kit.subscription("a1", profile="liveperson-connector")
    assert len(sub["client_id"]) == 32
    assert sub["secret"] and not sub["secret"].startswith("whsec_")


async def test_liveperson_data_shows_no_secret(db: Database, box: SecretBox, kit: Kit) -> None:
    # Its deliveries are signed by its credential: a subscription secret would be one nothing uses.
    sub = await kit.subscription("a1", profile="liveperson-data")
    assert "secret" not in sub
    rotated = await update_subscription(db, box, Owner(account_id="a1"), sub["id"], {}, rotate_secret=True)
    assert "secret" not in rotated
    moved = await update_subscription(db, box, Owner(account_id="a1"), sub["id"], {"profile": "standard"})
    assert moved["secret"].startswith("whsec_")  # a profile that signs with it shows it


async def test_create_application_liveperson_uses_app_credentials(db: Database, kit: Kit) -> None:
    app = await kit.application()
    sub = await kit.subscription(application_id=app["id"], profile="liveperson-connector")
    assert "secret" not in sub  # it signs with the application's client secret
    assert (sub["application_id"], sub["account_id"], sub["client_id"]) == (app["id"], None, None)
    got = await get_subscription(db, Owner(application_id=app["id"]), sub["id"])
    assert got["profile"] == "liveperson-connector"


async def test_owner_scoping(db: Database, kit: Kit) -> None:
    app = await kit.application()
    mine = await kit.subscription("a1")
    theirs = await kit.subscription("a2")
    app_sub = await kit.subscription(application_id=app["id"])
    a1 = Owner(account_id="a1")
    for sub_id in (theirs["id"], app_sub["id"]):
        with pytest.raises(NotFound):
            await get_subscription(db, a1, sub_id)
        with pytest.raises(NotFound):
            await update_subscription(db, kit.box, a1, sub_id, {"url": "https://evil.example/"})
        with pytest.raises(NotFound):
            await delete_subscription(db, a1, sub_id)
    with pytest.raises(NotFound):
        await get_subscription(db, Owner(application_id=app["id"]), mine["id"])
    rows, _ = await list_subscriptions(db, a1, 50, None)
    assert [r["id"] for r in rows] == [mine["id"]]
    rows, _ = await list_subscriptions(db, Owner(application_id=app["id"]), 50, None)
    assert [r["id"] for r in rows] == [app_sub["id"]]
    # untouched by the refused attempts
    assert (await get_subscription(db, Owner(account_id="a2"), theirs["id"]))[
        "url"
    ] == "https://example.com/hook"


async def test_list_pages(db: Database, kit: Kit) -> None:
    created = [await kit.subscription("a1", name=f"s{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        rows, cursor = await list_subscriptions(db, Owner(account_id="a1"), 2, cursor)
        seen.extend(r["id"] for r in rows)
        assert all("secret" not in r for r in rows)
        if cursor is None:
            break
    assert seen == [s["id"] for s in reversed(created)]


async def test_update_keeps_secret_unless_asked(db: Database, box: SecretBox, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    owner = Owner(account_id="a1")
    out = await update_subscription(
        db, box, owner, sub["id"], {"url": "https://new.example/h", "enabled": False}
    )
    assert (out["url"], out["enabled"]) == ("https://new.example/h", False)
    assert "secret" not in out
    endpoints = await load_endpoints(db, box, [sub["id"]])
    assert endpoints[sub["id"]].secret == sub["secret"]
    assert endpoints[sub["id"]].enabled is False

    rotated = await update_subscription(db, box, owner, sub["id"], {}, rotate_secret=True)
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != sub["secret"]
    assert (await load_endpoints(db, box, [sub["id"]]))[sub["id"]].secret == rotated["secret"]


async def test_update_profile_rotates_secret(db: Database, box: SecretBox, kit: Kit) -> None:
    sub = await kit.subscription("a1")
    owner = Owner(account_id="a1")
    out = await update_subscription(db, box, owner, sub["id"], {"profile": "liveperson-connector"})
    assert out["profile"] == "liveperson-connector"
    assert out["secret"] != sub["secret"] and not out["secret"].startswith("whsec_")
    endpoint = (await load_endpoints(db, box, [sub["id"]]))[sub["id"]]
    assert endpoint.secret == out["secret"]
    back = await update_subscription(db, box, owner, sub["id"], {"profile": "standard"})
    assert back["secret"].startswith("whsec_")


async def test_update_to_liveperson_gives_account_subscription_a_client_id(
    db: Database, box: SecretBox, kit: Kit
) -> None:
    # An account-owned connector subscription signs with its own client id (as when created so);
    # switching the profile must not leave it sending an empty x-liveperson-client-id.
    sub = await kit.subscription("a1")
    await update_subscription(db, box, Owner(account_id="a1"), sub["id"], {"profile": "liveperson-connector"})
    endpoint = (await load_endpoints(db, box, [sub["id"]]))[sub["id"]]
    assert endpoint.client_id


async def test_update_missing(db: Database, box: SecretBox) -> None:
    with pytest.raises(NotFound):
        await update_subscription(db, box, Owner(account_id="a1"), "sub_missing", {"name": "x"})
    with pytest.raises(NotFound):
        await update_subscription(db, box, Owner(account_id="a1"), "sub_missing", {}, rotate_secret=True)


async def test_delete_cancels_queued_deliveries(db: Database, kit: Kit) -> None:
    doomed = await kit.subscription("a1")
    kept = await kit.subscription("a1")
    await kit.publish("a1", ("e1", "t"))
    # deliver e1 to `doomed` first: finished deliveries keep their status
    claimed = await queue_store.claim(db, 10, 30)
    done = next(c for c in claimed if c.subscription_id == doomed["id"])
    await queue_store.record(db, [kit.record(done)])
    await kit.publish("a1", ("e2", "t"), ("e3", "t"))
    await queue_store.claim(db, 1, 30)  # one of them in flight: cancelled all the same

    await delete_subscription(db, Owner(account_id="a1"), doomed["id"])

    assert await kit.rows(queue, queue.c.subscription_id == doomed["id"]) == []
    rows = {
        r["event_id"]: r for r in await kit.rows(deliveries, deliveries.c.subscription_id == doomed["id"])
    }
    assert rows["e1"]["status"] == DeliveryStatus.DELIVERED
    for event_id in ("e2", "e3"):
        assert rows[event_id]["status"] == DeliveryStatus.CANCELLED
        assert rows[event_id]["finished_at"] is not None
        assert rows[event_id]["next_attempt_at"] is None
    kept_queue = await kit.rows(queue, queue.c.subscription_id == kept["id"])
    assert {r["event_id"] for r in kept_queue} == {"e1", "e2", "e3"}  # another subscription: untouched
    assert {r["status"] for r in await kit.rows(deliveries, deliveries.c.subscription_id == kept["id"])} == {
        "pending"
    }
    with pytest.raises(NotFound):
        await get_subscription(db, Owner(account_id="a1"), doomed["id"])


async def test_load_endpoints(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    std = await kit.subscription("a1", url="https://std.example/h")
    lp_account = await kit.subscription("a1", profile="liveperson-connector", url="https://lp.example/h")
    lp_app = await kit.subscription(application_id=app["id"], profile="liveperson-connector")
    std_app = await kit.subscription(application_id=app["id"])
    endpoints = await load_endpoints(
        db, box, [std["id"], lp_account["id"], lp_app["id"], std_app["id"], "nope"]
    )
    assert set(endpoints) == {std["id"], lp_account["id"], lp_app["id"], std_app["id"]}

    e = endpoints[std["id"]]
    assert (e.url, e.profile, e.secret, e.client_id, e.enabled) == (
        "https://std.example/h",
        "standard",
        std["secret"],
        None,
        True,
    )
    e = endpoints[lp_account["id"]]
    assert (e.secret, e.client_id) == (lp_account["secret"], lp_account["client_id"])
    e = endpoints[lp_app["id"]]
    assert (e.secret, e.client_id) == (app["client_secret"], app["client_id"])  # the application's
    e = endpoints[std_app["id"]]
    assert e.secret == std_app["secret"] and e.client_id is None
    assert await load_endpoints(db, box, []) == {}
