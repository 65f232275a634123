"""LivePerson retry policies against real Herald processes and a receiver that can be switched between
failing and answering: the TTL installation cycle UP → FAILED → IN_TRANSITION → RECOVERED → UP with every
stored event resent in order per conversation, and the by-count policy (dropped after N retries)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from e2e_harness import LIVEPERSON_RETRY_INTERVAL, Api, Herald, Received, Receiver, Reply, unique, wait_until

CONTENT = "ms.MessagingEventNotification.ContentEvent"
CONVERSATION = "cqm.ExConversationChangeNotification"
FAST_TTL = {
    "HERALD_LIVEPERSON_TTL_BACKOFF": "0.2",
    "HERALD_LIVEPERSON_DRAIN_PERIOD": "1.5",
    "HERALD_LIVEPERSON_TTL_CHECK": "0.1",
}


class Switch:
    """A receiver path that fails with 503 while `down`, and answers 200 otherwise."""

    def __init__(self) -> None:
        self.down = threading.Event()

    def __call__(self, request: Received, n: int) -> Reply:
        return Reply(503, body=b"down") if self.down.is_set() else Reply(200)


def content(conversation: str, n: int) -> dict[str, Any]:
    change = {
        "sequence": n,
        "conversationId": conversation,
        "event": {"type": "ContentEvent", "message": f"m{n}"},
    }
    return {
        "id": unique(f"{conversation}-{n}"),
        "type": CONTENT,
        "data": change,
        "ordering_key": conversation,
    }


def change(conversation: str, n: int) -> dict[str, Any]:
    data = {"type": "UPSERT", "result": {"convId": conversation, "seq": n}}
    return {
        "id": unique(f"{conversation}-c{n}"),
        "type": CONVERSATION,
        "data": data,
        "ordering_key": conversation,
    }


def install(api: Api, account: str, hooks: dict[str, Any]) -> dict[str, Any]:
    body = {"client_name": unique("ttl-app"), "capabilities": {"webhooks": hooks}}
    return api.expect(201, "POST", f"/v1/accounts/{account}/app-installations", json=body)


def state(api: Api, account: str, app_id: str) -> str:
    return str(api.expect(200, "GET", f"/v1/accounts/{account}/app-installations/{app_id}")["state"])


def arrived(
    receiver: Receiver, path: str, key: Callable[[dict[str, Any]], tuple[str, int]]
) -> list[tuple[str, int]]:
    """(conversation, sequence) of every 200-answered request at the path, in arrival order."""
    return [key(r.json()["body"]["changes"][0]) for r in receiver.requests(path) if r.status == 200]


def test_ttl_installation_goes_round_and_loses_nothing(
    herald_factory: Callable[..., Herald], backend: str, receiver: Receiver
) -> None:
    herald = herald_factory(backend, workers=2, **FAST_TTL)
    api = herald.api
    account = unique("acct-ttl")
    content_path, change_path = receiver.new_path("ttl-content"), receiver.new_path("ttl-change")
    switch = Switch()
    receiver.handle(content_path, switch)  # the change endpoint always answers
    app = install(
        api,
        account,
        {
            "retry": {"retention_time": 600},
            CONTENT: {"endpoint": receiver.url(content_path)},
            CONVERSATION: {"endpoint": receiver.url(change_path)},
        },
    )
    app_id = app["id"]
    assert app["state"] == "UP" and app["state_changed_at"] is None

    switch.down.set()
    convs = [f"conv-{i}" for i in range(3)]
    api.publish(account, *[content(c, 0) for c in convs])
    wait_until("the installation to fail", lambda: state(api, account, app_id) == "FAILED", timeout=15)
    # While FAILED every event of the installation is stored, on the answering endpoint too.
    stored = [content(c, n) for n in (1, 2) for c in convs] + [change(c, n) for n in (0, 1) for c in convs]
    api.publish(account, *stored)
    change_seen = len(receiver.requests(change_path))
    wait_until("a few probes", lambda: len(receiver.requests(content_path)) >= 6, timeout=15)
    assert len(receiver.requests(change_path)) == change_seen == 0
    assert state(api, account, app_id) == "FAILED"

    switch.down.clear()
    wait_until("the installation to be UP again", lambda: state(api, account, app_id) == "UP", timeout=30)
    # A new conversation published once UP goes straight through.
    api.publish(account, content("conv-new", 0))

    content_key = lambda c: (c["conversationId"], c["sequence"])  # noqa: E731
    change_key = lambda c: (c["result"]["convId"], c["result"]["seq"])  # noqa: E731
    wait_until(
        "every event to be delivered",
        lambda: (
            len(set(arrived(receiver, content_path, content_key))) == 10
            and len(set(arrived(receiver, change_path, change_key))) == 6
        ),
        timeout=20,
    )
    for path, key in ((content_path, content_key), (change_path, change_key)):
        got = arrived(receiver, path, key)
        for conv in convs:
            seqs = [n for c, n in got if c == conv]
            assert seqs == sorted(seqs), (path, conv, seqs)  # resent in order per conversation
    assert {n for c, n in arrived(receiver, content_path, content_key) if c in convs} == {0, 1, 2}

    history = api.expect(200, "GET", f"/v1/accounts/{account}/app-installations/{app_id}/transitions")
    states = [t["from_state"] + ">" + t["to_state"] for t in reversed(history["data"])]
    assert states[0] == "UP>FAILED"
    assert states[-3:] == ["FAILED>IN_TRANSITION", "IN_TRANSITION>RECOVERED", "RECOVERED>UP"], states
    # Every transition was announced as an operational event in the same transaction.
    announced = api.expect(200, "GET", f"/v1/accounts/{account}/operational-events", params={"limit": 100})
    changes = [e["data"] for e in reversed(announced["data"]) if e["type"] == "installation.state_changed"]
    assert [c["previous_state"] + ">" + c["state"] for c in changes] == states
    final = api.expect(200, "GET", f"/v1/accounts/{account}/app-installations/{app_id}")
    assert final["state_changed_at"] is not None
    for d in api.deliveries(account):
        assert d["status"] == "delivered", d


def test_max_retries_drops_after_n_retries_and_an_explicit_zero_does_not_fail_ttl(
    herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    herald = herald_factory("sqlite", **FAST_TTL)
    api = herald.api
    account = unique("acct-lp-count")
    by_count, zero = receiver.new_path("lp-count"), receiver.new_path("lp-zero")
    receiver.script(by_count, default=500)
    receiver.script(zero, default=500)
    counted = install(api, account, {CONTENT: {"endpoint": receiver.url(by_count), "max_retries": 2}})
    ttl = install(
        api,
        account,
        {"retry": {"retention_time": 600}, CONVERSATION: {"endpoint": receiver.url(zero), "max_retries": 0}},
    )
    api.publish(account, content("c1", 0), change("c1", 0))
    # By count: the first attempt and 2 retries at the (test-short) LivePerson interval, then dead.
    wait_until(
        "both deliveries to be dead",
        lambda: [d["status"] for d in api.deliveries(account)] == ["dead", "dead"],
        timeout=15,
    )
    arrivals = [r.at for r in receiver.requests(by_count)]
    assert len(arrivals) == 3
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap >= LIVEPERSON_RETRY_INTERVAL * 0.8 for gap in gaps), gaps  # the fixed interval
    assert len(receiver.requests(zero)) == 1  # explicit 0 under TTL: dropped at once
    assert state(api, account, ttl["id"]) == "UP"  # and its failure does not fail the installation
    assert state(api, account, counted["id"]) == "UP"
    history = api.expect(200, "GET", f"/v1/accounts/{account}/app-installations/{ttl['id']}/transitions")
    assert history["data"] == []


def test_retention_time_on_a_subscription_is_validated(api: Api, receiver: Receiver, account: str) -> None:
    url = receiver.url(receiver.new_path("ttl-sub"))
    sub = api.account_subscription(
        account, url, [CONTENT], profile="liveperson-connector", retention_time=120
    )
    assert sub["retention_time"] == 120
    patched = api.expect(
        200, "PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", json={"retention_time": 2}
    )
    assert patched["retention_time"] == 2
    bad = [
        ({"profile": "liveperson-connector", "retention_time": 1}, "retention_time"),
        ({"profile": "liveperson-connector", "retention_time": 259_201}, "retention_time"),
        ({"profile": "standard", "retention_time": 60}, "retention_time"),
        ({"profile": "liveperson-connector", "max_retries": 6}, "max_retries"),
    ]
    for fields, field in bad:
        body = {"url": url, "event_types": [CONTENT], **fields}
        resp = api.request("POST", f"/v1/accounts/{account}/subscriptions", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["data"]["field"] == field, resp.text
    for value in (1, 259_201):
        hooks = {"retry": {"retention_time": value}}
        resp = api.request(
            "POST",
            f"/v1/accounts/{account}/app-installations",
            json={"client_name": "x", "capabilities": {"webhooks": hooks}},
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["data"]["field"] == "capabilities.webhooks.retry.retention_time"
