"""/v1/sources on a real server: admin only, checked settings with the field at fault, passwords masked,
dead letters listed; and a source consumes a real Redis stream inside the running Herald."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from e2e_harness import Api, Herald, Receiver, unique, wait_until

from buskit import RedisBus


def source_body(**fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("src"),
        "kind": "redis-stream",
        "url": "redis://:s3cret-pass@127.0.0.1:6379/0",
        "stream": unique("herald-e2e"),
    }
    body.update(fields)
    return body


def test_create_get_list_patch_delete(api: Api) -> None:
    created = api.expect(201, "POST", "/v1/sources", json=source_body(account="acme", group="g1"))
    assert created["url"] == "redis://:***@127.0.0.1:6379/0"
    assert (created["kind"], created["group"], created["account"], created["account_field"]) == (
        "redis-stream",
        "g1",
        "acme",
        None,
    )
    assert created["type_field"] == "type" and created["enabled"] is True
    sid = created["id"]
    assert api.expect(200, "GET", f"/v1/sources/{sid}")["stream"] == created["stream"]
    listed = api.expect(200, "GET", "/v1/sources", params={"limit": 250})["data"]
    assert sid in {s["id"] for s in listed}
    assert all("s3cret" not in str(s) for s in listed)
    patched = api.expect(200, "PATCH", f"/v1/sources/{sid}", json={"enabled": False, "type_field": "meta.t"})
    assert (patched["enabled"], patched["type_field"], patched["url"]) == (False, "meta.t", created["url"])
    switched = api.expect(200, "PATCH", f"/v1/sources/{sid}", json={"account_field": "tenant"})
    assert (switched["account"], switched["account_field"]) == (None, "tenant")
    api.expect(204, "DELETE", f"/v1/sources/{sid}")
    api.expect(404, "GET", f"/v1/sources/{sid}")
    api.expect(404, "GET", f"/v1/sources/{sid}/dead-letters")


def test_bad_settings_name_the_field(api: Api) -> None:
    cases = [
        (source_body(kind="kafka", topic="t", stream=None), "url"),  # a redis:// URL for a kafka source
        (source_body(kind="mqtt"), "kind"),
        (source_body(url="http://127.0.0.1:6379"), "url"),
        (source_body(url="nats://127.0.0.1:4222"), "url"),
        (source_body(stream=None), "stream"),
        (source_body(subject="x"), "subject"),
        (source_body(group="a.b"), "group"),
        (source_body(account="acme", account_field="tenant"), "account_field"),
        (source_body(kind="amqp", url="amqp://guest:guest@127.0.0.1:5672/", stream=None), "queue"),
    ]
    for body, field in cases:
        error = api.expect(422, "POST", "/v1/sources", json=body)["error"]
        assert error["type"] == "validation" and error["data"]["field"] == field, (body, error)
    kafka = source_body(
        kind="kafka", url="kafka://127.0.0.1:9092", topic="orders", stream=None, enabled=False
    )
    assert api.expect(201, "POST", "/v1/sources", json=kafka)["topic"] == "orders"
    taken = source_body()
    api.expect(201, "POST", "/v1/sources", json=taken)
    error = api.expect(409, "POST", "/v1/sources", json={**source_body(), "name": taken["name"]})["error"]
    assert error["data"]["field"] == "name"


def test_sources_are_admin_only(herald: Herald, api: Api) -> None:
    account = unique("acct")
    pat = api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={"name": "p"})["token"]
    resp = httpx.post(
        herald.base_url + "/v1/sources",
        json=source_body(),
        headers={"authorization": f"Bearer {pat}"},
        timeout=10,
    )
    assert resp.status_code == 403 and resp.json()["error"]["type"] == "authorization"


def test_a_source_feeds_deliveries_and_keeps_poison(
    herald_factory: Any, receiver: Receiver, backend: str
) -> None:
    herald = herald_factory(backend, workers=1, HERALD_SOURCE_REFRESH="0.2")
    api = herald.api
    account = unique("acct")
    path = receiver.new_path("src")
    api.account_subscription(account, receiver.url(path), ["order.*"])
    bus = RedisBus()
    source = api.expect(
        201,
        "POST",
        "/v1/sources",
        json=source_body(url=bus.url, stream=bus.target, account=account),
    )
    bodies = [orjson.dumps({"type": "order.created", "data": {"n": i}}) for i in range(5)] + [b"nope"]
    try:
        asyncio.run(bus.produce(bodies))
        got = receiver.wait_for(path, 5, timeout=30)
        assert sorted(r.json()["data"]["n"] for r in got) == [0, 1, 2, 3, 4]

        def letters() -> list[dict[str, Any]] | None:
            found = api.expect(200, "GET", f"/v1/sources/{source['id']}/dead-letters")["data"]
            return found or None

        (letter,) = wait_until("the dead letter", letters, 20)
        assert letter["raw"] == "nope" and letter["reason"].startswith("not JSON")
        name = source["name"]
        metrics = httpx.get(herald.base_url + "/metrics", timeout=10).text
        if backend == "sqlite":  # one process: its consumer's counters are on the API's /metrics
            assert f'herald_source_messages_total{{outcome="event",source="{name}"}} 5.0' in metrics
        assert f'herald_source_dead_letters{{source="{name}"}} 1.0' in metrics
    finally:
        asyncio.run(bus.teardown())
