"""The HTTP API against a live server: idempotent publish, tenant scoping, error answers, metrics."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from e2e_harness import MAX_BODY_BYTES, Api, Herald, Receiver, unique, wait_until


def assert_error(resp: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    """Every error is JSON {"error": {"type", "message", "data"}} with the right status."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:1000]}"
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"type", "message", "data"}, error
    assert error["type"] == type_, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["data"], dict), error
    return error


# ------------------------------------------------------------------------------------------ publishing


def test_publishing_an_id_again_delivers_nothing_new(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("idem")
    api.account_subscription(account, receiver.url(path), ["idem.event"])
    first, second = unique("evt-idem"), unique("evt-idem")

    out = api.publish(account, {"id": first, "type": "idem.event", "data": {"v": 1}})
    assert out == {"ids": [first], "duplicates": []}
    out = api.publish(account, {"id": first, "type": "idem.event", "data": {"v": 2}})
    assert out == {"ids": [first], "duplicates": [first]}
    # In a batch: an id seen before is a duplicate; the same new id twice is one event.
    out = api.publish(
        account,
        {"id": second, "type": "idem.event", "data": {"v": 3}},
        {"id": second, "type": "idem.event", "data": {"v": 4}},
        {"id": first, "type": "idem.event", "data": {"v": 5}},
    )
    assert out["ids"] == [second, second, first]
    assert out["duplicates"] == [first]

    receiver.wait_for(path, 2)
    wait_until(
        "both deliveries to settle",
        lambda: all(d["status"] == "delivered" for d in api.deliveries(account)),
        timeout=10,
    )
    time.sleep(0.5)
    arrivals = receiver.requests(path)
    assert sorted(r.json()["data"]["v"] for r in arrivals) == [1, 3], "the first publish of an id wins"
    assert len(api.deliveries(account, event_id=first)) == 1
    assert len(api.deliveries(account, event_id=second)) == 1
    assert len(api.deliveries(account)) == 2

    # Ids are per account: the same id in another account is another event.
    other = unique("acct-other")
    assert api.publish(other, {"id": first, "type": "idem.event", "data": {}})["duplicates"] == []


def test_accounts_cannot_see_each_others_data(api: Api, receiver: Receiver) -> None:
    a, b = unique("acct-a"), unique("acct-b")
    path_a, path_b = receiver.new_path("tenant-a"), receiver.new_path("tenant-b")
    sub_a = api.account_subscription(a, receiver.url(path_a), ["t.event"])
    sub_b = api.account_subscription(b, receiver.url(path_b), ["t.event"])
    event_a, event_b = unique("evt-a"), unique("evt-b")
    api.publish(a, {"id": event_a, "type": "t.event", "data": {"owner": "a"}})
    api.publish(b, {"id": event_b, "type": "t.event", "data": {"owner": "b"}})
    delivery_a = api.settled(a, event_id=event_a)
    delivery_b = api.settled(b, event_id=event_b)

    # Deliveries: each account lists only its own; A's id under B is not found.
    assert [d["id"] for d in api.deliveries(a)] == [delivery_a["id"]]
    assert [d["id"] for d in api.deliveries(b)] == [delivery_b["id"]]
    assert api.deliveries(b, event_id=event_a) == []
    assert api.deliveries(b, subscription_id=sub_a["id"]) == []
    assert_error(api.request("GET", f"/v1/accounts/{b}/deliveries/{delivery_a['id']}"), 404, "not_found")
    resend = api.request("POST", f"/v1/accounts/{b}/deliveries/{delivery_a['id']}/resend")
    assert_error(resend, 404, "not_found")

    # Subscriptions: A's is invisible and untouchable under B.
    listed_b = api.expect(200, "GET", f"/v1/accounts/{b}/subscriptions")["data"]
    assert [s["id"] for s in listed_b] == [sub_b["id"]]
    sub_path = f"/v1/accounts/{b}/subscriptions/{sub_a['id']}"
    assert_error(api.request("GET", sub_path), 404, "not_found")
    assert_error(api.request("PATCH", sub_path, json={"url": receiver.url(path_b)}), 404, "not_found")
    assert_error(api.request("DELETE", sub_path), 404, "not_found")
    still = api.expect(200, "GET", f"/v1/accounts/{a}/subscriptions/{sub_a['id']}")
    assert still["url"] == receiver.url(path_a)

    # The receivers saw only their own account's event.
    assert [r.json()["data"]["owner"] for r in receiver.requests(path_a)] == ["a"]
    assert [r.json()["data"]["owner"] for r in receiver.requests(path_b)] == ["b"]


# -------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/applications"),
        ("POST", "/v1/accounts/acct-x/events"),
        ("GET", "/v1/accounts/x/deliveries"),
    ],
)
def test_401_without_or_with_a_bad_token(herald: Herald, method: str, path: str) -> None:
    body = {"type": "a.b", "data": {}} if method == "POST" else None
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {herald.token}"}):
        resp = httpx.request(method, herald.base_url + path, headers=headers, json=body, timeout=10)
        error = assert_error(resp, 401, "authentication")
        assert resp.headers.get("www-authenticate", "").lower().startswith("bearer")
        assert herald.token not in resp.text and "wrong" not in error["message"]


def test_400_for_a_body_that_is_not_json(api: Api, account: str) -> None:
    for raw in (b'{"type": "a.b", "data": ', b"not json", b'{"type": "a.b", "data": {}}}'):
        resp = api.request(
            "POST",
            f"/v1/accounts/{account}/events",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert_error(resp, 400, "bad_request")
    assert api.deliveries(account) == []


def test_422_names_the_field_at_fault(api: Api, account: str) -> None:
    good = {"type": "ok.event", "data": {}}
    events = [good, good, good, {"type": "bad type!", "data": {}}, good]
    resp = api.request("POST", f"/v1/accounts/{account}/events", json={"events": events})
    error = assert_error(resp, 422, "validation")
    assert error["data"]["field"] == "events.3.type", error
    assert "events.3.type" in error["message"]

    missing = [good, {"data": {}}]
    resp = api.request("POST", f"/v1/accounts/{account}/events", json={"events": missing})
    assert assert_error(resp, 422, "validation")["data"]["field"] == "events.1.type"

    resp = api.request("POST", f"/v1/accounts/{account}/events", json={"type": "a.b", "data": [1, 2]})
    assert assert_error(resp, 422, "validation")["data"]["field"] == "data"

    resp = api.request("POST", f"/v1/accounts/{account}/events", json={"events": []})
    assert assert_error(resp, 422, "validation")["data"]["field"] == "events"

    # Nothing of a refused batch was kept.
    sub_resp = api.request(
        "POST", f"/v1/accounts/{account}/subscriptions", json={"url": "ftp://x.example", "event_types": ["a"]}
    )
    assert assert_error(sub_resp, 422, "validation")["data"]["field"] == "url"
    assert api.deliveries(account) == []
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"] == []


def test_422_for_liveperson_max_retries_names_the_field(api: Api, account: str) -> None:
    """LivePerson allows 0-5 retries; the answer must point at max_retries."""
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={
            "url": "https://lp.example.com/hook",
            "event_types": ["cqm.ExConversationChangeNotification"],
            "profile": "liveperson-connector",
            "max_retries": 6,
        },
    )
    error = assert_error(resp, 422, "validation")
    assert error["data"]["field"] == "max_retries", error


def test_413_for_an_oversized_body(herald: Herald, account: str) -> None:
    limit = MAX_BODY_BYTES
    event = b'{"type": "big.event", "data": {"blob": "' + b"x" * (limit + 10) + b'"}}'
    url = f"{herald.base_url}/v1/accounts/{account}/events"
    headers = {"authorization": f"Bearer {herald.token}", "content-type": "application/json"}
    resp = httpx.post(url, content=event, headers=headers, timeout=30)
    error = assert_error(resp, 413, "payload_too_large")
    assert error["data"]["limit"] == limit

    def chunks() -> Any:  # no Content-Length: the limit must hold for a streamed body too
        for i in range(0, len(event), 65536):
            yield event[i : i + 65536]

    resp = httpx.post(url, content=chunks(), headers=headers, timeout=30)
    assert_error(resp, 413, "payload_too_large")
    assert herald.api.deliveries(account) == []
    # Just under the limit is fine.
    small = b'{"type": "big.event", "data": {"blob": "' + b"x" * (limit - 100) + b'"}}'
    assert httpx.post(url, content=small, headers=headers, timeout=30).status_code == 202


def test_404_for_unknown_resources(api: Api, account: str) -> None:
    error = assert_error(
        api.request("GET", f"/v1/accounts/{account}/subscriptions/sub_nope"), 404, "not_found"
    )
    assert error["data"].get("field") == "subscription_id"
    assert_error(api.request("DELETE", f"/v1/accounts/{account}/subscriptions/sub_nope"), 404, "not_found")
    assert_error(api.request("GET", "/v1/applications/app_nope"), 404, "not_found")
    assert_error(api.request("GET", f"/v1/accounts/{account}/deliveries/dlv_nope"), 404, "not_found")
    assert_error(api.request("POST", f"/v1/accounts/{account}/deliveries/dlv_nope/resend"), 404, "not_found")
    assert_error(
        api.request(
            "POST",
            "/v1/applications/app_nope/subscriptions",
            json={"url": "https://x.example/h", "event_types": ["a"]},
        ),
        404,
        "not_found",
    )
    assert_error(api.request("GET", "/v1/no/such/route"), 404, "not_found")


def test_409_for_a_duplicate_installation(api: Api, account: str) -> None:
    app = api.create_application(unique("dup-install"))
    api.install(app["id"], account)
    resp = api.request("POST", f"/v1/applications/{app['id']}/installations", json={"account_id": account})
    error = assert_error(resp, 409, "conflict")
    assert error["data"].get("field") == "account_id"
    listed = api.expect(200, "GET", f"/v1/applications/{app['id']}/installations")["data"]
    assert [i["account_id"] for i in listed] == [account]


# ------------------------------------------------------------------------------ inputs that broke the API


def test_event_data_with_an_integer_beyond_64_bits_is_not_a_server_error(api: Api, account: str) -> None:
    """JSON allows any integer; Herald may accept it or refuse it with 422, but never answer 500."""
    resp = api.request(
        "POST", f"/v1/accounts/{account}/events", json={"type": "big.int", "data": {"n": 2**70}}
    )
    assert resp.status_code in (202, 422), f"{resp.status_code}: {resp.text}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/applications", {"name": "nul\x00name"}),
        ("POST", "/v1/accounts/{account}/events", {"id": "nul\x00id", "type": "a.b", "data": {}}),
        ("POST", "/v1/accounts/{account}/events", {"type": "a.b", "data": {}, "ordering_key": "k\x00"}),
        ("GET", "/v1/accounts/{account}/deliveries?event_id=%00", None),
    ],
    ids=["application-name", "event-id", "ordering-key", "query-event-id"],
)
def test_nul_characters_in_strings_are_not_a_server_error(
    api: Api, account: str, method: str, path: str, body: Any
) -> None:
    """A NUL character is valid JSON text; PostgreSQL cannot store it. The answer must be a 2xx or 4xx."""
    resp = api.request(method, path.format(account=account), json=body)
    assert resp.status_code < 500, f"{resp.status_code}: {resp.text}"


def test_event_with_an_extreme_timestamp_does_not_get_stuck(
    api: Api, receiver: Receiver, account: str
) -> None:
    """A timestamp the API accepts must either be refused with 422 or be delivered (or die) - a delivery
    must not stay pending forever because the dispatcher cannot render it."""
    path = receiver.new_path("extreme-ts")
    api.account_subscription(account, receiver.url(path), ["ts.event"], max_retries=0)
    event_id = unique("evt-ts")
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/events",
        json={"id": event_id, "type": "ts.event", "data": {}, "timestamp": "0001-01-01T00:00:00+14:00"},
    )
    if resp.status_code == 422:
        return
    assert resp.status_code == 202, resp.text
    delivery = api.settled(account, event_id=event_id, timeout=8)
    assert delivery["status"] in ("delivered", "dead"), delivery


# ------------------------------------------------------------------------------------------- metrics


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_metrics_expose_publish_and_delivery_counters(
    herald: Herald, receiver: Receiver, account: str
) -> None:
    before = httpx.get(f"{herald.base_url}/metrics", timeout=10)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    for name in (
        "herald_events_published_total",
        "herald_deliveries_created_total",
        "herald_deliveries_delivered_total",
        "herald_deliveries_failed_total",
        "herald_queue_depth",
    ):
        metric(before.text, name)
    assert "herald_attempt_duration_seconds_bucket" in before.text

    path = receiver.new_path("metrics")
    herald.api.account_subscription(account, receiver.url(path), ["m.event"])
    event_ids = [unique("evt-m") for _ in range(3)]
    herald.api.publish(account, *[{"id": i, "type": "m.event", "data": {}} for i in event_ids])
    herald.api.publish(account, {"id": event_ids[0], "type": "m.event", "data": {}})  # a duplicate
    for event_id in event_ids:
        herald.api.settled(account, event_id=event_id)

    after = httpx.get(f"{herald.base_url}/metrics", timeout=10).text

    def grew(name: str) -> float:
        return metric(after, name) - metric(before.text, name)

    assert grew("herald_events_published_total") == 3, "duplicates are not counted"
    assert grew("herald_deliveries_created_total") == 3
    if herald.backend == "sqlite":
        # `herald serve` dispatches in the process that serves /metrics.
        assert grew("herald_deliveries_delivered_total") >= 3
        assert metric(after, 'herald_attempts_total{outcome="success"}') >= 3


@pytest.mark.parametrize("target", ["application.name", "installation.enabled"])
def test_patch_with_null_for_a_required_field_is_a_client_error(api: Api, account: str, target: str) -> None:
    """`null` for a field that cannot be empty is refused with 422 naming the field, never a 500."""
    app = api.create_application(unique("patch-null"))
    installation = api.install(app["id"], account)
    path, body, field = {
        "application.name": (f"/v1/applications/{app['id']}", {"name": None}, "name"),
        "installation.enabled": (
            f"/v1/applications/{app['id']}/installations/{installation['id']}",
            {"enabled": None},
            "enabled",
        ),
    }[target]
    error = assert_error(api.request("PATCH", path, json=body), 422, "validation")
    assert error["data"]["field"] == field, error
    assert api.expect(200, "GET", f"/v1/applications/{app['id']}")["name"] == app["name"]
