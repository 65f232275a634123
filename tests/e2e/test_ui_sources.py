"""The dashboard's Sources page (admin): each source, its dead letters with raw message and reason, and
this process's consumer figures; other users are told there is no such page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from dashboard_client import Ui, personal_token
from e2e_harness import Herald, unique, wait_until

from buskit import RedisBus


def test_sources_page_shows_figures_and_dead_letters(herald_factory: Callable[..., Herald]) -> None:
    herald = herald_factory("sqlite", HERALD_SOURCE_REFRESH="0.2")
    api = herald.api
    account = unique("acct")
    bus = RedisBus()
    name = unique("orders")
    source = api.expect(
        201,
        "POST",
        "/v1/sources",
        json={"name": name, "kind": "redis-stream", "url": bus.url, "stream": bus.target, "account": account},
    )
    bodies = [orjson.dumps({"type": "order.created", "data": {"n": i}}) for i in range(3)]
    asyncio.run(bus.produce([*bodies, b"<html>not an event</html>"]))
    ui = Ui(herald)
    try:

        def dead_letter() -> Any:
            return api.expect(200, "GET", f"/v1/sources/{source['id']}/dead-letters")["data"]

        wait_until("the dead letter", dead_letter, 20)
        assert ui.sign_in(herald.token).status_code == 303
        page = ui.get("/ui/sources")
        assert page.status_code == 200
        html = page.text
        assert name in html and bus.target in html and "redis-stream" in html
        assert "not JSON" in html and "&lt;html&gt;not an event&lt;/html&gt;" in html  # escaped
        assert "<td>3</td>" in html  # three events consumed by this process
        ui.close()
        ui = Ui(herald)
        assert ui.sign_in(personal_token(api, account)).status_code == 303
        assert ui.get("/ui/sources").status_code == 404
    finally:
        ui.close()
        asyncio.run(bus.teardown())
