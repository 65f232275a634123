"""Applications and installations (storage conformance: SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from herald.store import applications as store
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, delete_subscription
from herald.store.tables import applications

if TYPE_CHECKING:
    from conftest import Kit


async def test_create_and_get(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await store.create_application(db, box, "Connector", "does things")
    assert app["id"].startswith("app_")
    assert len(app["client_id"]) == 32
    assert len(app["client_secret"]) >= 43  # plaintext, shown once
    stored = await kit.one(applications, applications.c.id == app["id"])
    assert stored["client_secret"] != app["client_secret"]  # encrypted at rest
    assert box.decrypt(stored["client_secret"]) == app["client_secret"]

    got = await store.get_application(db, app["id"])
    assert "client_secret" not in got
    assert (got["name"], got["description"], got["client_id"]) == (
        "Connector",
        "does things",
        app["client_id"],
    )


async def test_get_missing(db: Database) -> None:
    with pytest.raises(NotFound) as info:
        await store.get_application(db, "app_missing")
    assert info.value.data == {"field": "application_id"}


async def test_list_pages_with_cursor(db: Database, box: SecretBox) -> None:
    created = [await store.create_application(db, box, f"app{i}", None) for i in range(5)]
    seen: list[str] = []
    pages = []
    cursor = None
    while True:
        rows, cursor = await store.list_applications(db, 2, cursor)
        pages.append(len(rows))
        seen.extend(r["id"] for r in rows)
        assert all("client_secret" not in r for r in rows)
        if cursor is None:
            break
    assert pages == [2, 2, 1]
    assert seen == [a["id"] for a in reversed(created)]  # newest first, each once


async def test_list_exact_page_has_no_cursor(db: Database, box: SecretBox) -> None:
    for i in range(3):
        await store.create_application(db, box, f"app{i}", None)
    rows, cursor = await store.list_applications(db, 3, None)
    assert len(rows) == 3
    assert cursor is None


async def test_update(db: Database, box: SecretBox) -> None:
    app = await store.create_application(db, box, "old", None)
    updated = await store.update_application(db, app["id"], {"name": "new", "description": "d"})
    assert (updated["name"], updated["description"]) == ("new", "d")
    assert updated["updated_at"] >= app["updated_at"]
    assert updated["client_id"] == app["client_id"]
    assert (await store.update_application(db, app["id"], {}))["name"] == "new"
    with pytest.raises(NotFound):
        await store.update_application(db, "app_missing", {"name": "x"})


async def test_delete_refuses_while_installed_or_subscribed(db: Database, box: SecretBox, kit: Kit) -> None:
    app = await kit.application()
    installation = await kit.install(app["id"], "a1")
    with pytest.raises(Conflict) as info:
        await store.delete_application(db, app["id"])
    assert info.value.data["installations"] == 1
    await store.delete_installation(db, app["id"], installation["id"])

    sub = await kit.subscription(application_id=app["id"])
    with pytest.raises(Conflict) as info:
        await store.delete_application(db, app["id"])
    assert info.value.data["subscriptions"] == 1
    assert (await store.get_application(db, app["id"]))["id"] == app["id"]  # nothing half-deleted

    await delete_subscription(db, Owner(application_id=app["id"]), sub["id"])
    await store.delete_application(db, app["id"])
    with pytest.raises(NotFound):
        await store.get_application(db, app["id"])
    with pytest.raises(NotFound):
        await store.delete_application(db, app["id"])


async def test_installation_lifecycle(db: Database, kit: Kit) -> None:
    app = await kit.application()
    ins = await store.create_installation(db, app["id"], "a1", True, 3, None)
    assert ins["id"].startswith("ins_")
    assert ins["state"] == "UP"
    got = await store.get_installation(db, app["id"], ins["id"])
    assert (got["account_id"], got["enabled"], got["max_retries"], got["retention_time"]) == (
        "a1",
        True,
        3,
        None,
    )

    updated = await store.update_installation(
        db, app["id"], ins["id"], {"enabled": False, "max_retries": None, "retention_time": 600}
    )
    assert (updated["enabled"], updated["max_retries"], updated["retention_time"]) == (False, None, 600)

    await store.delete_installation(db, app["id"], ins["id"])
    with pytest.raises(NotFound):
        await store.get_installation(db, app["id"], ins["id"])
    with pytest.raises(NotFound):
        await store.delete_installation(db, app["id"], ins["id"])


async def test_installation_conflict_on_same_account(db: Database, kit: Kit) -> None:
    app = await kit.application()
    await kit.install(app["id"], "a1")
    with pytest.raises(Conflict) as info:
        await kit.install(app["id"], "a1", enabled=False)
    assert info.value.data == {"field": "account_id"}
    other = await kit.install(app["id"], "a2")  # another account is fine
    assert other["account_id"] == "a2"
    second_app = await kit.application("second")
    assert (await kit.install(second_app["id"], "a1"))["application_id"] == second_app["id"]


async def test_installation_not_found_cases(db: Database, kit: Kit) -> None:
    app = await kit.application()
    other_app = await kit.application("other")
    ins = await kit.install(app["id"], "a1")
    with pytest.raises(NotFound):
        await store.create_installation(db, "app_missing", "a1", True, None, None)
    with pytest.raises(NotFound):  # scoped to its application
        await store.get_installation(db, other_app["id"], ins["id"])
    with pytest.raises(NotFound):
        await store.update_installation(db, other_app["id"], ins["id"], {"enabled": False})
    with pytest.raises(NotFound):
        await store.delete_installation(db, other_app["id"], ins["id"])
    with pytest.raises(NotFound):
        await store.list_installations(db, "app_missing", 10, None)
    assert (await store.get_installation(db, app["id"], ins["id"]))["enabled"] is True


async def test_list_installations_pages(db: Database, kit: Kit) -> None:
    app = await kit.application()
    other = await kit.application("other")
    await kit.install(other["id"], "a1")
    created = [await kit.install(app["id"], f"acct{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        rows, cursor = await store.list_installations(db, app["id"], 2, cursor)
        seen.extend(r["id"] for r in rows)
        if cursor is None:
            break
    assert seen == [i["id"] for i in reversed(created)]
