"""Payload filters against a live server: validation answers and filtered delivery to a real receiver."""

from __future__ import annotations

import time

from e2e_harness import Api, Receiver, unique, wait_until


def test_a_bad_filter_is_422_naming_the_path(api: Api, receiver: Receiver, account: str) -> None:
    url = receiver.url(receiver.new_path("bad-filter"))
    body = {"url": url, "event_types": ["*"], "filter": {"$or": [{"amount": {"$gt": [1]}}]}}
    resp = api.request("POST", f"/v1/accounts/{account}/subscriptions", json=body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["type"] == "validation"
    assert error["data"]["field"] == "filter.$or.0.amount.$gt"

    body["filter"] = {"name": {"$regex": r"(a)\1"}}
    resp = api.request("POST", f"/v1/accounts/{account}/subscriptions", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["data"]["field"] == "filter.name.$regex"

    sub = api.account_subscription(account, url, ["*"])
    resp = api.request(
        "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"filter": {"$nope": 1}}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["data"]["field"] == "filter.$nope"


def test_a_filtered_subscription_receives_only_matching_events(
    api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("filtered")
    spec = {"amount": {"$gte": 10}, "currency": {"$in": ["EUR", "USD"]}}
    sub = api.account_subscription(account, receiver.url(path), ["pay.*"], filter=spec)
    assert sub["filter"] == spec
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}")["filter"] == spec

    wanted, small, other_currency = unique("evt-f"), unique("evt-f"), unique("evt-f")
    api.publish(
        account,
        {"id": small, "type": "pay.done", "data": {"amount": 5, "currency": "EUR"}},
        {"id": other_currency, "type": "pay.done", "data": {"amount": 50, "currency": "GBP"}},
        {"id": wanted, "type": "pay.done", "data": {"amount": 50, "currency": "EUR"}},
    )
    receiver.wait_for(path, 1)
    api.settled(account, event_id=wanted)
    time.sleep(0.5)
    assert [r.json()["data"]["amount"] for r in receiver.requests(path)] == [50]
    assert [d["event_id"] for d in api.deliveries(account)] == [wanted]

    # PATCH with null clears the filter: everything of the type is delivered again.
    out = api.expect(200, "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"filter": None})
    assert out["filter"] is None
    later = unique("evt-f")
    api.publish(account, {"id": later, "type": "pay.done", "data": {"amount": 1}})
    receiver.wait_for(path, 2)
    wait_until(
        "the later event to be delivered",
        lambda: len(api.deliveries(account, event_id=later)) == 1,
        timeout=10,
    )
