"""The dashboard's own queries: the subscriptions that deliver an account's events (with their health
columns), an account's installations, known accounts. Health statistics are `endpoint_health.attempt_stats`,
tested with the API's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from herald.store import ui
from herald.store.database import Database
from herald.store.errors import NotFound

if TYPE_CHECKING:
    from conftest import Kit


async def test_subscriptions_of_an_account_and_known_accounts(db: Database, kit: Kit) -> None:
    own = await kit.subscription("a1")
    elsewhere = await kit.subscription("a2")
    app = await kit.application()
    installed = await kit.subscription(None, application_id=app["id"])
    other_app = await kit.application("other")
    not_installed = await kit.subscription(None, application_id=other_app["id"])
    await kit.install(app["id"], "a1")

    subs: dict[str, Any] = await ui.subscriptions_by_id(db, "a1")
    assert set(subs) == {own["id"], installed["id"]}
    assert elsewhere["id"] not in subs and not_installed["id"] not in subs
    assert "secret" not in subs[own["id"]]
    assert subs[own["id"]]["consecutive_failures"] == 0 and subs[own["id"]]["disabled_reason"] is None
    assert set(await ui.subscriptions_by_id(db, "a1", [elsewhere["id"], own["id"]])) == {own["id"]}

    installs = await ui.account_installations(db, "a1")
    assert [(i["application_name"], i["state"]) for i in installs] == [("app", "UP")]
    assert (await ui.account_installation(db, "a1", app["id"]))["id"] == installs[0]["id"]
    with pytest.raises(NotFound):
        await ui.account_installation(db, "a2", app["id"])  # installed in a1 only
    assert await ui.known_accounts(db) == ["a1", "a2"]
