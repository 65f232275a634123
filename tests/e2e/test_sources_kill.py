"""At least once, nothing lost, per bus kind: two `herald worker`s share a source (one consumer group)
while messages keep arriving, and workers are SIGKILLed and replaced as they consume. Afterwards every
message is exactly one event with its one delivery, and the bus holds nothing unacknowledged.

Messages carry no id field: each event's id is the message's own id on the bus (stable across
redeliveries), so a message committed and then redelivered after a kill must not become a second event.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson
import pytest
from e2e_harness import Herald, skip_or_fail_without_pg, unique, wait_until

from buskit import KINDS, make_bus

pytestmark = pytest.mark.chaos

MESSAGES = 300
CHUNK = 10
KILLS = 3


def _events(herald: Herald, account: str) -> list[tuple[str, Any]]:
    async def read() -> list[tuple[str, Any]]:
        conn = await asyncpg.connect(herald.database_url)
        try:
            rows = await conn.fetch("SELECT id, data FROM events WHERE account_id = $1", account)
            deliveries = await conn.fetchval(
                "SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id"
                " WHERE e.account_id = $1",
                account,
            )
        finally:
            await conn.close()
        return [(r["id"], orjson.loads(r["data"])["n"]) for r in rows] + [("deliveries", deliveries)]

    return asyncio.run(read())


@pytest.mark.parametrize("kind", KINDS)
def test_sigkilled_workers_turn_each_message_into_one_event(
    kind: str, herald_factory: Callable[..., Herald]
) -> None:
    skip_or_fail_without_pg()
    herald = herald_factory(
        "postgresql",
        workers=2,
        HERALD_SOURCE_REFRESH="0.2",
        HERALD_SOURCE_BATCH="5",
        HERALD_SOURCE_CLAIM_IDLE="1",
    )
    api = herald.api
    account = unique("acct-src-kill")
    api.account_subscription(account, "http://127.0.0.1:9/unused", ["kill.*"])  # deliveries are counted
    bus = make_bus(kind)
    # The bus kit holds connections: keep them on one event loop, in a thread.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    on_loop(bus.setup())
    try:
        api.expect(
            201,
            "POST",
            "/v1/sources",
            json={
                "name": unique("src-kill"),
                "kind": kind,
                "url": bus.url,
                bus.target_field: bus.target,
                "account": account,
            },
        )
        rng = random.Random(14)
        sent = 0
        kills = 0
        next_kill = time.monotonic() + 1.0
        while sent < MESSAGES or kills < KILLS:
            if sent < MESSAGES:
                bodies = [
                    orjson.dumps({"type": "kill.test", "data": {"n": n}}) for n in range(sent, sent + CHUNK)
                ]
                on_loop(bus.produce(bodies))
                sent += CHUNK
            if kills < KILLS and time.monotonic() >= next_kill:
                victim = rng.choice([w for w in herald.workers if w.alive])
                victim.kill()
                herald.start_worker()
                kills += 1
                next_kill = time.monotonic() + rng.uniform(0.5, 1.5)
            time.sleep(0.05)

        def all_in() -> list[tuple[str, Any]] | None:
            found = _events(herald, account)
            return found if len(found) - 1 >= MESSAGES else None

        found = wait_until("every message as an event", all_in, 90, interval=0.5)
        time.sleep(2.0)  # a late duplicate would show up now
        found = _events(herald, account)
        deliveries = dict(found).pop("deliveries")
        numbers = sorted(n for event_id, n in found if event_id != "deliveries")
        assert numbers == list(range(MESSAGES)), "lost or doubled messages"
        assert deliveries == MESSAGES
        wait_until("the bus to hold nothing unacknowledged", lambda: on_loop(bus.pending("herald")) == 0, 30)
    finally:
        on_loop(bus.teardown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
