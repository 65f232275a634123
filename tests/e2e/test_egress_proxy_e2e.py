"""A live Herald with HERALD_EGRESS_PROXY (both backends): every delivery goes through the real proxy on
loopback, which sees each one, and the receiver still verifies the signature of the bytes it got."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_harness import Herald, Receiver, unique, wait_until
from standardwebhooks import Webhook

from tinyproxy_harness import Tinyproxy, needs_tinyproxy

pytestmark = needs_tinyproxy()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    p = Tinyproxy(tmp_path / "proxy")
    try:
        yield p
    finally:
        p.stop()


def test_every_delivery_goes_through_the_proxy(
    backend: str, herald_factory: Callable[..., Herald], receiver: Receiver, proxy: Tinyproxy
) -> None:
    herald = herald_factory(backend, workers=1, HERALD_EGRESS_PROXY=proxy.url)
    api = herald.api
    account = unique("acct")
    path = receiver.new_path("proxied")
    sub = api.account_subscription(account, receiver.url(path), ["proxied.*"])
    for n in range(5):
        api.publish(account, {"type": "proxied.thing", "data": {"n": n}})
    arrivals = receiver.wait_for(path, 5)
    wait_until(
        "the log to show 5 delivered",
        lambda: [d["status"] for d in api.deliveries(account)] == ["delivered"] * 5,
        10,
    )
    through = [r for r in proxy.requests() if path in r]
    assert len(through) == 5, proxy.log()
    assert all(r.startswith("POST http://127.0.0.1:") for r in through)
    verifier = Webhook(sub["secret"])
    assert sorted(verifier.verify(a.body, a.headers)["data"]["n"] for a in arrivals) == [0, 1, 2, 3, 4]


def test_a_subscription_picks_a_named_proxy(
    herald_factory: Callable[..., Herald], receiver: Receiver, proxy: Tinyproxy
) -> None:
    herald = herald_factory("sqlite", HERALD_EGRESS_PROXIES=f"audit={proxy.url}")
    api = herald.api
    account = unique("acct")
    via, direct = receiver.new_path("via-audit"), receiver.new_path("direct")
    sub = api.account_subscription(account, receiver.url(via), ["named.*"], egress_proxy="audit")
    assert sub["egress_proxy"] == "audit"
    api.account_subscription(account, receiver.url(direct), ["named.*"])
    api.publish(account, {"type": "named.thing", "data": {}})
    receiver.wait_for(via, 1)
    receiver.wait_for(direct, 1)
    asked = proxy.requests()
    assert len([r for r in asked if via in r]) == 1 and not [r for r in asked if direct in r], asked

    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={"url": receiver.url(via), "event_types": ["x"], "egress_proxy": "nope"},
    )
    assert resp.status_code == 422 and resp.json()["error"]["data"]["field"] == "egress_proxy", resp.text
    patched = api.expect(
        200, "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"egress_proxy": None}
    )
    assert patched["egress_proxy"] is None
