"""Chaos: an endpoint that flaps between 500s, timeouts and 200s for most of a minute under steady load.

Two subscriptions of one account get every event: one ordered (six ordering keys), one not, each behind
its own flapping path (seeded schedules, so every run flaps the same way; which requests land in which
phase depends on timing). Herald runs with a 1 s read timeout and a retry schedule of 0.2 s, 0.3 s and
then 0.5 s forty times, enough to outlast the longest outage the schedule allows (5 s).

Afterwards:
- every accepted event was delivered to both subscriptions, every delivery is `delivered`;
- ordered: per key, the successful receipts are exactly the published events in publish order, and no
  event was even tried before the one published before it had succeeded;
- the attempt log in the API is what the endpoint saw: per delivery, as many attempts as requests, in
  order, a 500 logged as `bad_status` 500, a held-back answer as `read_timeout`, a 200 as success.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from chaos_harness import (
    FAIL,
    OK,
    TIMEOUT,
    FlappingEndpoint,
    Publisher,
    delivery_details,
    expected_attempt,
    flap_schedule,
    wait_all_arrived,
)
from e2e_harness import Herald, Receiver, unique

pytestmark = pytest.mark.chaos

FLAP_SECONDS = 45.0
SEEDS = {"ordered": 20261121, "plain": 5}
KEYS = [f"conv-{k}" for k in "abcdef"]
# Generous for loopback: on a busy machine an immediate answer may take a few hundred ms to get through,
# and it must never be mistaken for a timeout. A "timeout" answer comes three read timeouts late.
READ_TIMEOUT = 1.0
HOLD = 3.0
RETRY_SCHEDULE = ",".join(["0.2", "0.3"] + ["0.5"] * 40)


def event_of(data: Any) -> str:
    return str(data["event"])


def test_flapping_endpoint_under_load(
    backend: str, herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    herald = herald_factory(
        backend,
        workers=2,
        HERALD_READ_TIMEOUT=str(READ_TIMEOUT),
        HERALD_RETRY_SCHEDULE=RETRY_SCHEDULE,
        # The breaker opens on a long failing phase and 504s throttle the endpoint; both stay on, with
        # pauses short enough for a one-minute run (defaults: 30 s each).
        HERALD_BREAKER_COOLDOWN="2",
        HERALD_THROTTLE_SECONDS="2",
    )
    api = herald.api
    account = unique("acct-flap")
    endpoints: dict[str, FlappingEndpoint] = {}
    subs: dict[str, dict[str, Any]] = {}
    for name, seed in SEEDS.items():
        path = receiver.new_path(f"flap-{name}")
        endpoints[name] = FlappingEndpoint(flap_schedule(seed, FLAP_SECONDS), hold=HOLD)
        receiver.handle(path, endpoints[name])
        subs[name] = api.account_subscription(
            account, receiver.url(path), ["chaos.flap"], ordered=(name == "ordered")
        )

    publisher = Publisher(herald, account, "chaos.flap", batch=3, pause=0.3, keys=KEYS)
    for ep in endpoints.values():
        ep.start()
    publisher.start()
    time.sleep(FLAP_SECONDS)
    publisher.finish()
    accepted = set(publisher.accepted)

    def delivered(name: str) -> Callable[[], set[str]]:
        return lambda: {event_of(r.data) for r in endpoints[name].receipts if r.mode == OK}

    for name in SEEDS:
        wait_all_arrived(herald, account, delivered(name), accepted, timeout=30)

    # Every accepted event has one delivery per subscription, and each is delivered.
    deliveries = api.deliveries(account)
    assert len(deliveries) == 2 * len(accepted)
    assert Counter(d["status"] for d in deliveries) == {"delivered": 2 * len(accepted)}
    for name, sub in subs.items():
        assert {d["event_id"] for d in deliveries if d["subscription_id"] == sub["id"]} == accepted, name

    # The attempt log is what the endpoint saw, attempt by attempt.
    details = {d["id"]: d for d in delivery_details(api, account, [d["id"] for d in deliveries])}
    seen: dict[str, Counter[str]] = {}
    for name, sub in subs.items():
        by_delivery = endpoints[name].by_delivery()
        seen[name] = Counter(r.mode for got in by_delivery.values() for r in got)
        for delivery in (d for d in details.values() if d["subscription_id"] == sub["id"]):
            got = by_delivery.get(delivery["id"], [])
            logged = [(a["status_code"], a["error_kind"]) for a in delivery["attempt_log"]]
            assert [a["attempt"] for a in delivery["attempt_log"]] == list(range(1, len(logged) + 1))
            assert delivery["attempts"] == len(logged)
            assert logged == [expected_attempt(r.mode) for r in got], (
                f"{name} {delivery['id']}: the endpoint saw {[r.mode for r in got]}, the API logged {logged}"
            )
            assert sum(r.mode == OK for r in got) == 1, f"{delivery['id']} succeeded more than once"
        assert set(by_delivery) <= {d["id"] for d in deliveries if d["subscription_id"] == sub["id"]}

    # Order where promised: per key, successes in publish order; nothing tried before its predecessor won.
    published: dict[str, list[int]] = defaultdict(list)
    for event_id in publisher.accepted:
        published[str(publisher.key_of[event_id])].append(int(event_id.rsplit("-", 1)[1]))
    tries: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in sorted(endpoints["ordered"].receipts, key=lambda r: r.at):
        tries[str(publisher.key_of[event_of(r.data)])].append((int(r.data["n"]), r.mode))
    for key in KEYS:
        successes = [n for n, mode in tries[key] if mode == OK]
        assert successes == published[key], f"{key}: received {successes}, published {published[key]}"
        every_try = [n for n, _ in tries[key]]
        assert every_try == sorted(every_try), f"{key}: a later event was tried before an earlier succeeded"

    # The chaos was real: both endpoints failed both ways many times.
    for name in SEEDS:
        assert seen[name][FAIL] >= 20 and seen[name][TIMEOUT] >= 20, (name, seen[name])
    print(
        f"\n[{backend}] {len(accepted)} events x 2 subscriptions over {FLAP_SECONDS:.0f} s; "
        + "; ".join(f"{n}: {dict(seen[n])}" for n in SEEDS)
        + f"; publish retries {dict(publisher.failures)}"
    )
