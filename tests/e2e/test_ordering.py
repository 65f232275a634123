"""Order where promised: an ordered subscription delivers events with the same ordering key one at a time,
in publish order, holding later ones while an earlier one is retried."""

from __future__ import annotations

import random
from collections import defaultdict

from e2e_harness import Api, Received, Receiver, Reply, unique, wait_until

KEYS = ["conv-a", "conv-b", "conv-c", "conv-d"]
PER_KEY = 8


def test_ordered_subscription_keeps_publish_order_per_key(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("ordered")
    rng = random.Random(7)
    # The first attempt of every third event fails; the rest answer after a small random delay, so the
    # keys interleave and any reordering would show.
    fail_first = {(k, n) for k in KEYS for n in range(PER_KEY) if (n + KEYS.index(k)) % 3 == 1}
    tries: dict[tuple[str, int], int] = defaultdict(int)

    def handler(req: Received, _: int) -> Reply:
        data = req.json()["data"]
        key = (data["key"], data["n"])
        tries[key] += 1
        if key in fail_first and tries[key] == 1:
            return Reply(500)
        return Reply(200, delay=rng.uniform(0, 0.02))

    receiver.handle(path, handler)
    sub = api.account_subscription(account, receiver.url(path), ["conv.message"], ordered=True)
    assert sub["ordered"] is True

    published: dict[str, list[int]] = defaultdict(list)

    def event(key: str, n: int) -> dict[str, object]:
        published[key].append(n)
        return {
            "id": unique(f"evt-{key}-{n}"),
            "type": "conv.message",
            "ordering_key": key,
            "data": {"key": key, "n": n},
        }

    # Publish in several requests: a batch of the first half (keys interleaved), then single events.
    api.publish(account, *[event(k, n) for n in range(PER_KEY // 2) for k in KEYS])
    for n in range(PER_KEY // 2, PER_KEY):
        for k in KEYS:
            api.publish(account, event(k, n))

    total = len(KEYS) * PER_KEY
    receiver.wait_for(path, total + len(fail_first), timeout=30)

    def settled() -> bool:
        return all(d["status"] != "pending" for d in api.deliveries(account))

    wait_until("every delivery to settle", settled, timeout=15)
    deliveries = api.deliveries(account)
    assert len(deliveries) == total
    assert {d["status"] for d in deliveries} == {"delivered"}

    arrivals: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for req in receiver.requests(path):
        data = req.json()["data"]
        arrivals[data["key"]].append((data["n"], req.status))
    for key in KEYS:
        successes = [n for n, status in arrivals[key] if status == 200]
        assert successes == published[key], (
            f"{key}: delivered in order {successes}, published {published[key]}"
        )
        every_try = [n for n, _ in arrivals[key]]
        assert every_try == sorted(every_try), (
            f"{key}: a later event was sent while an earlier one waited: {every_try}"
        )
