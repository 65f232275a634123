"""Chaos: PostgreSQL itself stops (fast shutdown) and starts again, twice, in the middle of a run.

A private cluster (chaos_harness.PrivatePostgres: its own initdb, port and socket directory — the shared
server on 5432 is never touched) serves `herald api` plus two `herald worker`s. A publisher publishes
continuously; twice, PostgreSQL gets SIGINT and stays down for OUTAGE seconds (longer than the lease, so
leases run out while it is away), then starts again on the same port.

The Herald processes are never restarted by the test: they must ride out the outage and reconnect by
themselves. While the database is away the API answers publishes 503 (`unavailable`), never 202 and
never 500, and the publisher repeats those batches with the same ids; only batches answered 202 count.

Afterwards every accepted event has been received and its delivery is `delivered`, every repeated receipt
straddles an outage, and the repeats are bounded: what a worker can repeat after an outage is what it
had claimed and not yet recorded when the database went away — at most 2 x max_in_flight (see
test_chaos_kills.py) — so duplicate receipts <= outages x workers x 2 x max_in_flight (plus
kills x 2 x max_in_flight in the variant that also SIGKILLs a worker during each outage).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_harness import (
    Disruption,
    PrivatePostgres,
    Publisher,
    check_nothing_lost,
    deployment_on,
    private_postgres,
)
from e2e_harness import Herald, Received, Receiver, Reply, unique

pytestmark = pytest.mark.chaos

OUTAGES_AT = (8.0, 22.0)  # seconds into the run
OUTAGE = 5.0
RUN_SECONDS = 34.0
LEASE = 3.0
MAX_IN_FLIGHT = 64
WORKERS = 2
ARRIVAL_SLACK = 1.0


@pytest.fixture
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture
def herald(pg: PrivatePostgres, tmp_path: Path) -> Iterator[Herald]:
    env = {"HERALD_LEASE_SECONDS": str(LEASE), "HERALD_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT)}
    with deployment_on(pg.create_database(), tmp_path / "deploy", workers=WORKERS, **env) as h:
        yield h


@pytest.mark.parametrize("sigkill", [False, True], ids=["restarts", "restarts-and-sigkills"])
def test_postgres_restarted_mid_run_loses_nothing(
    pg: PrivatePostgres, herald: Herald, receiver: Receiver, sigkill: bool
) -> None:
    """`restarts`: the Herald processes are left alone. `restarts-and-sigkills`: besides, in the middle
    of each outage a random worker gets SIGKILL and a new one starts while the database is still away."""
    pids = [p.popen.pid for p in herald.procs if p.popen is not None]
    account = unique("acct-pg")
    path = receiver.new_path("pg-restart")
    latency = random.Random(4)
    receiver.handle(path, lambda req, n: Reply(200, delay=latency.uniform(0.05, 0.25)))
    herald.api.account_subscription(account, receiver.url(path), ["chaos.pg"])

    publisher = Publisher(herald, account, "chaos.pg", batch=10, pause=0.2, retry_for=OUTAGE * 5)
    disruptions: list[Disruption] = []
    victims = random.Random(9)
    publisher.start()
    started = time.monotonic()
    for at in OUTAGES_AT:
        time.sleep(max(0.0, started + at - time.monotonic()))
        down = time.monotonic()
        pg.stop()
        time.sleep(OUTAGE / 2)
        if sigkill:
            victim = victims.choice([w for w in herald.workers if w.alive])
            killed_at = time.monotonic()
            victim.kill()
            assert victim.popen is not None and victim.popen.returncode == -9
            disruptions.append(Disruption(f"SIGKILL {victim.name}", killed_at, killed_at + ARRIVAL_SLACK))
            herald.start_worker()  # starts, and waits for its database, while PostgreSQL is down
        time.sleep(max(0.0, down + OUTAGE - time.monotonic()))
        pg.start()
        disruptions.append(Disruption("postgres restart", down, time.monotonic() + ARRIVAL_SLACK))
    time.sleep(max(0.0, started + RUN_SECONDS - time.monotonic()))
    publisher.finish()

    def received() -> list[Received]:
        return receiver.requests(path)

    report = check_nothing_lost(herald, received, account, publisher, disruptions, LEASE)
    kills = sum(d.kind.startswith("SIGKILL") for d in disruptions)
    outages = len(disruptions) - kills
    # Nobody restarted the API, nor (without SIGKILLs) a worker; every process the test left is running.
    assert herald.api_proc is not None and herald.api_proc.popen is not None
    assert herald.api_proc.popen.pid == pids[0]
    if not sigkill:
        assert [p.popen.pid for p in herald.procs if p.popen is not None] == pids
    assert sum(w.alive for w in herald.workers) == WORKERS and herald.api_proc.alive, herald.logs(40)
    # The outages were real: publishes were refused meanwhile, and only ever as 503.
    assert publisher.failures, "no publish failed: was PostgreSQL really down?"
    assert set(publisher.failures) <= {"503"}, dict(publisher.failures)
    assert not report.unexplained, f"repeats no disruption accounts for: {report.unexplained[:10]}"
    bound = (outages * WORKERS + kills) * 2 * MAX_IN_FLIGHT
    assert report.duplicate_receipts <= bound, f"{report}; bound {bound}"
    print(
        f"\n[postgresql, private cluster] {outages} restarts ({OUTAGE:.0f} s down each), {kills} SIGKILLs; "
        f"{report}; bound {bound}; publishes repeated: {dict(publisher.failures)}"
    )
