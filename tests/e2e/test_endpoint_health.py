"""Endpoint health against real Herald processes and real receivers: 410 disables, a slow endpoint is
disabled within its (short, configured) window, enable/disable routes, the health view, per-endpoint rate
limits that defer without using attempts, redirects as failures, and operational events delivered to the
application's operational URL as Standard Webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_harness import Api, Herald, Receiver, Reply, unique, wait_until
from standardwebhooks import Webhook
from test_api import assert_error


def subscription(api: Api, account: str, sub_id: str) -> dict[str, Any]:
    return api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")


def ops_events(api: Api, account: str) -> list[dict[str, Any]]:
    return api.expect(200, "GET", f"/v1/accounts/{account}/operational-events")["data"]


def test_410_disables_the_endpoint_and_its_deliveries_wait_for_enable(
    api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("gone")
    receiver.script(path, 410, default=200)
    sub = api.account_subscription(account, receiver.url(path), ["g.event"])
    event = unique("evt-gone")
    api.publish(account, {"id": event, "type": "g.event", "data": {}})
    disabled = wait_until(
        "410 to disable the endpoint",
        lambda: (s := subscription(api, account, sub["id"]))["enabled"] is False and s,
        10,
    )
    assert disabled["disabled_reason"].startswith("gone:") and disabled["disabled_at"]
    health = api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}/health")
    assert health["state"] == "disabled" and health["disabled_reason"] == disabled["disabled_reason"]
    # The delivery is kept (pending, one attempt), not dropped.
    [delivery] = api.deliveries(account, event_id=event)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert [e["type"] for e in ops_events(api, account)] == ["endpoint.disabled"]

    enabled = api.expect(200, "POST", f"/v1/accounts/{account}/subscriptions/{sub['id']}/enable")
    assert (
        enabled["enabled"] is True and enabled["disabled_reason"] is None and enabled["disabled_at"] is None
    )
    done = api.settled(account, event_id=event, timeout=20)
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert [e["type"] for e in ops_events(api, account)] == ["endpoint.enabled", "endpoint.disabled"]
    assert len(receiver.requests(path)) == 2


def test_disable_route_holds_deliveries_and_patch_enabled_is_the_same(
    api: Api, receiver: Receiver, account: str
) -> None:
    path = receiver.new_path("manual")
    sub = api.account_subscription(account, receiver.url(path), ["m.event"])
    base = f"/v1/accounts/{account}/subscriptions/{sub['id']}"
    off = api.expect(200, "POST", base + "/disable")
    assert off["enabled"] is False and off["disabled_reason"].startswith("manual:")
    assert api.expect(200, "POST", base + "/disable")["disabled_at"] == off["disabled_at"]  # idempotent
    on = api.expect(200, "PATCH", base, json={"enabled": True})
    assert on["enabled"] is True and on["disabled_reason"] is None
    kinds = [e["type"] for e in ops_events(api, account)]
    assert kinds == ["endpoint.enabled", "endpoint.disabled"]
    assert_error(
        api.request("POST", f"/v1/accounts/{account}/subscriptions/sub_nope/enable"), 404, "not_found"
    )


def test_health_view_buckets_success_rate_and_latency(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("health")
    receiver.script(path, 200, 200, 200, Reply(400), default=200)
    sub = api.account_subscription(account, receiver.url(path), ["h.event"], max_retries=0)
    for i in range(4):
        api.publish(account, {"id": f"{account}-{i}", "type": "h.event", "data": {}})
    for i in range(4):
        api.settled(account, event_id=f"{account}-{i}")
    health = api.expect(
        200,
        "GET",
        f"/v1/accounts/{account}/subscriptions/{sub['id']}/health",
        params={"window": 600, "bucket": 60},
    )
    assert health["totals"]["attempts"] == 4 and health["totals"]["successes"] == 3
    assert health["totals"]["success_rate"] == 0.75
    assert health["totals"]["p50_ms"] is not None and health["totals"]["p99_ms"] >= health["totals"]["p50_ms"]
    assert len(health["buckets"]) == 10 and sum(b["attempts"] for b in health["buckets"]) == 4
    assert health["circuit"] == "closed" and health["state"] == "enabled"
    bad = api.request(
        "GET",
        f"/v1/accounts/{account}/subscriptions/{sub['id']}/health",
        params={"bucket": 1, "window": 86400},
    )
    assert assert_error(bad, 422, "validation")["data"]["field"] == "bucket"


def test_redirects_are_failures(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("redirect")
    receiver.script(path, default=Reply(302, headers={"location": receiver.url("/elsewhere")}))
    api.account_subscription(account, receiver.url(path), ["r.event"], max_retries=0)
    event = unique("evt-redirect")
    api.publish(account, {"id": event, "type": "r.event", "data": {}})
    done = api.settled(account, event_id=event)
    assert done["status"] == "dead" and done["last_status_code"] == 302
    assert done["attempt_log"][0]["error_kind"] == "bad_status"
    assert receiver.requests("/elsewhere") == []


def test_rate_limit_defers_without_using_attempts(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("paced")
    sub = api.account_subscription(
        account, receiver.url(path), ["p.event"], rate_limit=4, rate_limit_burst=1, max_concurrency=1
    )
    assert (sub["rate_limit"], sub["rate_limit_burst"], sub["max_concurrency"]) == (4, 1, 1)
    events = [unique("evt-paced") for _ in range(8)]
    api.publish(account, *({"id": e, "type": "p.event", "data": {}} for e in events))
    got = receiver.wait_for(path, 8, timeout=30)
    for e in events:
        done = api.settled(account, event_id=e)
        assert done["status"] == "delivered" and done["attempts"] == 1  # deferrals used no attempt
    # 8 deliveries at 4/s with a burst of 1 cannot arrive in less than 7/4 s.
    arrivals = sorted(r.at for r in got)
    assert arrivals[-1] - arrivals[0] >= 1.5
    patched = api.expect(
        200, "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"rate_limit": None}
    )
    assert patched["rate_limit"] is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_slow_endpoint_is_disabled_within_the_window(
    herald_factory: Callable[..., Herald], backend: str, receiver: Receiver
) -> None:
    h = herald_factory(
        backend, HERALD_SLOW_THRESHOLD="0.2", HERALD_SLOW_WINDOW="1", HERALD_SLOW_MIN_ATTEMPTS="3"
    )
    account = unique("acct-slow")
    slow, fast = receiver.new_path("slow"), receiver.new_path("fast")
    receiver.script(slow, default=Reply(200, delay=0.4))
    slow_sub = h.api.account_subscription(account, receiver.url(slow), ["s.event"])
    fast_sub = h.api.account_subscription(account, receiver.url(fast), ["s.event"])
    sent = 0

    def publish_until_disabled() -> dict[str, Any] | None:
        # Steady traffic, as the slow window needs responses spread over it.
        nonlocal sent
        state = subscription(h.api, account, slow_sub["id"])
        if state["enabled"] is False:
            return state
        h.api.publish(account, {"type": "s.event", "data": {"n": sent}})
        sent += 1
        time.sleep(0.1)
        return None

    disabled = wait_until("the slow endpoint to be disabled", publish_until_disabled, 30)
    assert disabled["disabled_reason"].startswith("slow:")
    assert subscription(h.api, account, fast_sub["id"])["enabled"] is True
    [event] = [e for e in ops_events(h.api, account) if e["type"] == "endpoint.disabled"]
    assert event["data"]["trigger"] == "slow" and event["data"]["subscription_id"] == slow_sub["id"]


def test_operational_events_arrive_signed_at_the_operational_url(
    api: Api, receiver: Receiver, account: str
) -> None:
    ops_path, hook = receiver.new_path("ops"), receiver.new_path("failing")
    app = api.create_application(unique("ops-app"))
    api.install(app["id"], account)
    updated = api.expect(
        200, "PATCH", f"/v1/applications/{app['id']}", json={"operational_url": receiver.url(ops_path)}
    )
    secret = updated["operational_secret"]
    assert secret.startswith("whsec_") and updated["operational_url"] == receiver.url(ops_path)
    assert "operational_secret" not in api.expect(200, "GET", f"/v1/applications/{app['id']}")

    receiver.script(hook, 500, 500, 500, 500, default=200)
    sub = api.app_subscription(app["id"], receiver.url(hook), ["o.event"], max_retries=0)
    for i in range(4):  # four failures in a row: each exhausted, and the endpoint is failing
        api.publish(account, {"id": f"{account}-f{i}", "type": "o.event", "data": {}})
        api.settled(account, event_id=f"{account}-f{i}")
    api.publish(account, {"id": f"{account}-ok", "type": "o.event", "data": {}})  # recovered
    api.settled(account, event_id=f"{account}-ok")
    api.expect(200, "POST", f"/v1/applications/{app['id']}/subscriptions/{sub['id']}/disable")

    got = receiver.wait_for(ops_path, 7, timeout=20)
    wh = Webhook(secret)
    types = []
    for r in got:
        payload = wh.verify(r.body, r.headers)
        types.append(payload["type"])
        assert payload["data"]["application_id"] == app["id"]
    assert sorted(types) == sorted(
        ["message.attempt.exhausted"] * 4
        + ["message.attempt.failing", "message.attempt.recovered", "endpoint.disabled"]
    )
    listed = api.expect(200, "GET", f"/v1/applications/{app['id']}/operational-events", params={"limit": 3})
    assert len(listed["data"]) == 3 and listed["next_cursor"]
    assert listed["data"][0]["type"] == "endpoint.disabled"
    assert_error(api.request("GET", "/v1/applications/app_nope/operational-events"), 404, "not_found")
    catalog = api.expect(200, "GET", "/v1/operational-event-types")["data"]
    assert {t["type"] for t in catalog} >= set(types) | {"endpoint.enabled", "installation.state_changed"}
    assert all(t["schema"]["type"] == "object" for t in catalog)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_circuit_breaker_holds_retries_back_without_using_attempts(
    herald_factory: Callable[..., Herald], backend: str, receiver: Receiver
) -> None:
    # One worker: with several, each sees the others' failures only within the endpoint cache's refresh.
    h = herald_factory(backend, workers=1, HERALD_BREAKER_FAILURES="2", HERALD_BREAKER_COOLDOWN="3")
    account = unique("acct-breaker")
    path = receiver.new_path("breaker")
    receiver.script(path, 500, 500, default=200)
    sub = h.api.account_subscription(account, receiver.url(path), ["b.event"], max_retries=10)
    event = unique("evt-breaker")
    h.api.publish(account, {"id": event, "type": "b.event", "data": {}})
    receiver.wait_for(path, 2)
    health_path = f"/v1/accounts/{account}/subscriptions/{sub['id']}/health"
    wait_until(
        "the shared failure streak",
        lambda: h.api.expect(200, "GET", health_path)["consecutive_failures"] == 2,
        10,
    )
    done = h.api.settled(account, event_id=event, timeout=20)
    # Retries are 0.2 s apart here; the open breaker held the third attempt back for its 3 s cool-down,
    # and holding back used no attempt: the probe is attempt 3, and it closed the breaker.
    assert done["status"] == "delivered" and done["attempts"] == 3
    arrivals = [r.at for r in receiver.requests(path)]
    assert len(arrivals) == 3 and arrivals[2] - arrivals[1] >= 2.5
    health = h.api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}/health")
    assert health["circuit"] == "closed" and health["consecutive_failures"] == 0


def test_retry_after_is_honoured_on_429_and_ignored_on_500(
    api: Api, receiver: Receiver, account: str
) -> None:
    limited, broken = receiver.new_path("429"), receiver.new_path("500")
    receiver.script(limited, Reply(429, headers={"retry-after": "2"}), default=200)
    receiver.script(broken, Reply(500, headers={"retry-after": "60"}), default=200)
    api.account_subscription(account, receiver.url(limited), ["ra.limited"], max_retries=1)
    api.account_subscription(account, receiver.url(broken), ["ra.broken"], max_retries=1)
    first, second = unique("evt-429"), unique("evt-500")
    api.publish(
        account,
        {"id": first, "type": "ra.limited", "data": {}},
        {"id": second, "type": "ra.broken", "data": {}},
    )
    # The 500's Retry-After: 60 is ignored: the 0.2 s schedule applies and it is delivered well before.
    assert api.settled(account, event_id=second, timeout=10)["status"] == "delivered"
    assert api.settled(account, event_id=first, timeout=10)["status"] == "delivered"
    arrivals = [r.at for r in receiver.requests(limited)]
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 1.8  # waited as the 429 asked
