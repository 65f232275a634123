"""App installations: replacing a manifest is all or nothing, and the account's list pages (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from herald.domain.signing import generate_client_secret
from herald.store import app_installations as store
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import applications, installations, subscriptions

CONTENT = "ms.MessagingEventNotification.ContentEvent"
CONVERSATION = "cqm.ExConversationChangeNotification"
CHAT_STATE = "ms.MessagingEventNotification.ChatStateEvent"


def manifest(name: str = "Example", enabled: bool = True, **webhooks: Any) -> dict[str, Any]:
    return {"client_name": name, "enabled": enabled, "capabilities": {"webhooks": webhooks}}


async def snapshot(db: Database) -> list[Any]:
    async with db.read() as conn:
        return [
            sorted(tuple(r) for r in (await conn.execute(t.select())).all())
            for t in (applications, installations, subscriptions)
        ]


class Boom(RuntimeError):
    pass


async def test_a_put_that_fails_half_way_changes_nothing(
    db: Database, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await store.create(
        db,
        box,
        "acct-1",
        manifest(
            **{
                "retry": {"retention_time": 600},
                CONTENT: {"endpoint": "https://a.example/lp", "max_retries": 1},
                CONVERSATION: {"endpoint": "https://b.example/lp"},
            }
        ),
    )
    before = await snapshot(db)
    # The new event type's subscription is written last, after the application, the installation and
    # the other subscriptions were changed in the same transaction: fail right there.
    calls = []

    def failing_secret() -> str:
        calls.append(1)
        raise Boom("disk full")

    monkeypatch.setattr(store, "generate_client_secret", failing_secret)
    new = manifest(
        "Renamed",
        False,
        **{
            CONTENT: {"endpoint": "https://c.example/lp", "max_retries": 5},
            CHAT_STATE: {"endpoint": "https://d.example/lp"},
        },
    )
    with pytest.raises(Boom):
        await store.replace(db, box, "acct-1", created["id"], new)
    assert calls  # it did fail half-way
    assert await snapshot(db) == before
    assert (await store.get(db, "acct-1", created["id"]))["manifest"] == created["manifest"]

    monkeypatch.setattr(store, "generate_client_secret", generate_client_secret)
    out, _ = await store.replace(db, box, "acct-1", created["id"], new)
    assert out["manifest"]["client_name"] == "Renamed" and out["enabled"] is False
    assert set(out["manifest"]["capabilities"]["webhooks"]) == {CONTENT, CHAT_STATE}


async def test_the_account_list_pages_its_app_installations_only(db: Database, box: SecretBox) -> None:
    made = [
        await store.create(
            db, box, "acct-1", manifest(f"app{i}", **{CONTENT: {"endpoint": "https://a.example/lp"}})
        )
        for i in range(3)
    ]
    await store.create(
        db, box, "acct-2", manifest("elsewhere", **{CONTENT: {"endpoint": "https://a.example/lp"}})
    )
    page1, cursor = await store.list_for_account(db, "acct-1", 2, None)
    assert cursor is not None
    page2, last = await store.list_for_account(db, "acct-1", 2, cursor)
    assert last is None
    assert [p["id"] for p in page1 + page2] == [m["id"] for m in reversed(made)]  # newest first
    assert all(p["account_id"] == "acct-1" and p["state"] == "UP" for p in page1 + page2)
    assert all("client_secret" not in p for p in page1 + page2)
    assert await store.list_for_account(db, "acct-3", 10, None) == ([], None)
