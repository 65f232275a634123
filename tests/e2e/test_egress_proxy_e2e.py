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
