"""Graceful stop: in-flight sends finish and are recorded; claimed-but-unsent work is handed back at once
instead of waiting out its lease."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from test_dispatcher import make_dispatcher

from herald.domain.models import Request, Response
from herald.runtime import running
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries, queue

if TYPE_CHECKING:
    from conftest import Kit


async def test_stop_finishes_in_flight_and_releases_the_rest(db: Database, box: SecretBox, kit: Kit) -> None:
    await kit.subscription("a1", url="https://one.example/h")
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(10)])
    started = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await asyncio.sleep(0.3)
        return Response(200, b"ok")

    dispatcher = make_dispatcher(db, box, slow, endpoint_concurrency=2, lease_seconds=60)
    async with running(dispatcher):
        await asyncio.wait_for(started.wait(), 10)
    stopped_at = time.time()

    rows = await kit.rows(deliveries)
    delivered = [r for r in rows if r["status"] == "delivered"]
    pending = [r for r in rows if r["status"] == "pending"]
    # The two sends in flight when the stop came were allowed to finish and were recorded.
    assert len(delivered) >= 2
    assert len(delivered) + len(pending) == 10
    # Everything else is due again now, not after the 60 s lease.
    queued = await kit.rows(queue)
    assert len(queued) == len(pending)
    assert all(q["available_at"] <= stopped_at for q in queued)
