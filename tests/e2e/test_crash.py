"""Nothing lost: processes killed with SIGKILL mid-run lose no accepted event.

PostgreSQL: `herald api` plus two workers; workers are killed (and restarted) again and again while events
are published and delivered. SQLite: the single `herald serve` process is killed and restarted on the same
file. Afterwards every accepted event has reached the receiver at least once and every delivery is
`delivered`. Duplicates are allowed (at-least-once) and reported.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
from e2e_harness import Herald, Proc, Received, Receiver, Reply, unique, wait_until

EVENTS = {"postgresql": 2000, "sqlite": 1000}
BATCH = 50
KILLS = {"postgresql": 5, "sqlite": 3}
KILL_INTERVAL = 0.7
PUBLISH_PAUSE = 0.15
LEASE = "2"


class Producer(threading.Thread):
    """Publishes batches the way a careful producer does: each batch (same ids) again until it gets 202."""

    def __init__(self, herald: Herald, account: str, total: int) -> None:
        super().__init__(name="e2e-producer", daemon=True)
        self.herald = herald
        self.account = account
        self.total = total
        self.accepted: list[str] = []
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        client = httpx.Client(
            base_url=self.herald.base_url,
            headers={"authorization": f"Bearer {self.herald.token}"},
            timeout=10,
        )
        try:
            for start in range(0, self.total, BATCH):
                ids = [f"crash-{i:05d}" for i in range(start, min(start + BATCH, self.total))]
                events = [{"id": i, "type": "crash.event", "data": {"event": i}} for i in ids]
                self._publish(client, events)
                self.accepted.extend(ids)
                time.sleep(PUBLISH_PAUSE)  # spread publishing over the kills
        except BaseException as exc:
            self.error = exc
        finally:
            client.close()

    def _publish(self, client: httpx.Client, events: list[dict[str, object]]) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = client.post(f"/v1/accounts/{self.account}/events", json={"events": events})
                if resp.status_code == 202:
                    return
                if resp.status_code < 500:
                    raise AssertionError(f"publish refused: {resp.status_code} {resp.text[:500]}")
            except httpx.TransportError:
                pass  # the server is down for a moment: publish the same batch again
            self.retries += 1
            if time.monotonic() > deadline:
                raise AssertionError("could not publish a batch within 60 s")
            time.sleep(0.1)


def event_id(req: Received) -> str:
    return str(req.json()["data"]["event"])


def check_nothing_lost(
    herald: Herald, receiver: Receiver, path: str, account: str, producer: Producer
) -> str:
    accepted = set(producer.accepted)
    assert len(accepted) == producer.total

    def arrived() -> set[str]:
        return {event_id(r) for r in receiver.requests(path) if r.status == 200}

    def summary() -> str:
        counts = Counter(event_id(r) for r in receiver.requests(path) if r.status == 200)
        duplicates = sum(n - 1 for n in counts.values())
        return (
            f"{len(accepted)} accepted, {len(set(counts) & accepted)} arrived, {duplicates} duplicate "
            f"deliveries over {sum(1 for n in counts.values() if n > 1)} events, "
            f"{producer.retries} publish retries"
        )

    try:
        wait_until("every accepted event to arrive", lambda: accepted <= arrived(), timeout=60, interval=0.25)
    except AssertionError as exc:
        missing = sorted(accepted - arrived())
        raise AssertionError(
            f"{len(missing)} accepted events never arrived ({summary()}): {missing[:20]}"
        ) from exc

    def settled() -> bool:
        return not herald.api.deliveries(account, status="pending")

    wait_until("every delivery to settle", settled, timeout=30, interval=0.5)
    deliveries = herald.api.deliveries(account)
    by_event = Counter(d["event_id"] for d in deliveries)
    assert set(by_event) == accepted, f"deliveries do not match the accepted events ({summary()})"
    assert max(by_event.values()) == 1, f"an event got more than one delivery row ({summary()})"
    not_delivered = [d for d in deliveries if d["status"] != "delivered"]
    assert not not_delivered, f"{len(not_delivered)} not delivered ({summary()}): {not_delivered[:5]}"
    return summary()


def test_nothing_accepted_is_lost_when_processes_are_killed(
    backend: str, herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    herald = herald_factory(backend, workers=2, HERALD_LEASE_SECONDS=LEASE)
    account = unique("acct-crash")
    path = receiver.new_path("crash")
    rng = random.Random(11)
    # Latency, so that dozens of deliveries are in flight whenever a process dies.
    receiver.handle(path, lambda req, n: Reply(200, delay=rng.uniform(0.05, 0.25)))
    herald.api.account_subscription(account, receiver.url(path), ["crash.event"])

    producer = Producer(herald, account, EVENTS[backend])
    producer.start()
    killed: list[Proc] = []
    in_flight_at_kill: list[int] = []
    for n in range(KILLS[backend]):
        time.sleep(KILL_INTERVAL)
        in_flight_at_kill.append(receiver.in_flight())
        if backend == "postgresql":
            victim = next(w for w in herald.workers if w.alive)
            victim.kill()
            killed.append(victim)
            herald.start_worker()
        else:
            assert herald.api_proc is not None
            killed.append(herald.api_proc)
            herald.restart_api()
        assert killed[-1].popen is not None and killed[-1].popen.returncode == -9, f"kill {n} did not SIGKILL"

    producer.join(120)
    assert not producer.is_alive(), "the producer did not finish"
    if producer.error is not None:
        raise producer.error
    summary = check_nothing_lost(herald, receiver, path, account, producer)
    print(f"\n[{backend}] {len(killed)} SIGKILLs with {in_flight_at_kill} requests in flight: {summary}")
