"""Chaos: workers SIGKILLed again and again while events are published and delivered (PostgreSQL).

`herald api` plus two `herald worker`s; for about 40 s a publisher publishes continuously, and every 2 to 4 s
(seeded) a random live worker gets SIGKILL and a fresh one is started in its place. The receiver answers
200 after 50 to 250 ms, so dozens of deliveries are in flight whenever a worker dies.

Afterwards every accepted event has been received and its delivery is `delivered` (nothing lost), and
every repeated receipt of a delivery (same `webhook-id`) straddles a kill. The number of repeats is
bounded: a SIGKILLed worker can leave behind only the deliveries it had claimed and not yet recorded —
at most HERALD_MAX_IN_FLIGHT sends it held, plus the outcomes waiting in its recorder's buffer. The
recorder flushes every 10 ms; a send slot finishes at most once per 50 ms (the receiver's shortest
answer), so the buffer holds at most one outcome per slot: at most 2 x max_in_flight per kill. Each of
those is repeated once by whichever worker claims it after its lease runs out (if that worker is killed in
turn, the repeat is that kill's). Hence duplicate receipts <= kills x 2 x max_in_flight.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from chaos_harness import Disruption, Publisher, check_nothing_lost
from e2e_harness import Herald, Receiver, Reply, skip_or_fail_without_pg, unique

pytestmark = pytest.mark.chaos

RUN_SECONDS = 40.0
MAX_IN_FLIGHT = 64
LEASE = 3.0
KILL_EVERY = (2.0, 4.0)
# A receipt may be logged by the receiver a moment after the kill of the worker that sent it.
ARRIVAL_SLACK = 1.0


def test_workers_sigkilled_repeatedly_lose_nothing(
    herald_factory: Callable[..., Herald], receiver: Receiver
) -> None:
    skip_or_fail_without_pg()
    herald = herald_factory(
        "postgresql", workers=2, HERALD_LEASE_SECONDS=str(LEASE), HERALD_MAX_IN_FLIGHT=str(MAX_IN_FLIGHT)
    )
    account = unique("acct-kills")
    path = receiver.new_path("kills")
    latency = random.Random(3)
    receiver.handle(path, lambda req, n: Reply(200, delay=latency.uniform(0.05, 0.25)))
    herald.api.account_subscription(account, receiver.url(path), ["chaos.kill"])

    publisher = Publisher(herald, account, "chaos.kill", batch=10, pause=0.2)
    rng = random.Random(20261122)
    kills: list[Disruption] = []
    in_flight_at_kill: list[int] = []
    publisher.start()
    started = time.monotonic()
    while time.monotonic() - started < RUN_SECONDS:
        time.sleep(rng.uniform(*KILL_EVERY))
        victim = rng.choice([w for w in herald.workers if w.alive])
        in_flight_at_kill.append(receiver.in_flight())
        at = time.monotonic()
        victim.kill()
        assert victim.popen is not None and victim.popen.returncode == -9
        kills.append(Disruption(f"SIGKILL {victim.name}", at, at + ARRIVAL_SLACK))
        herald.start_worker()
    publisher.finish()
    assert sum(w.alive for w in herald.workers) == 2

    report = check_nothing_lost(herald, lambda: receiver.requests(path), account, publisher, kills, LEASE)
    assert not report.unexplained, f"repeats no kill accounts for: {report.unexplained[:10]}"
    bound = len(kills) * 2 * MAX_IN_FLIGHT
    assert report.duplicate_receipts <= bound, f"{report}; bound {bound}"
    print(
        f"\n[postgresql] {len(kills)} SIGKILLs ({in_flight_at_kill} requests in flight at the receiver); "
        f"{report}; bound {bound}; publish retries {dict(publisher.failures)}"
    )
