"""Rate-limit buckets shared by every worker: taking tokens on both backends, and two dispatchers on one
database keeping together to an endpoint's rate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import Request, Response
from herald.runtime import running
from herald.store import rate_tokens
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries, endpoint_tokens

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Kit


async def test_a_bucket_starts_full_refills_at_its_rate_and_never_overdraws(db: Database) -> None:
    available = await rate_tokens.take(db, [("sub_a", 2.0, 3.0, 5), ("sub_b", 10.0, 10.0, 4)])
    assert available == {"sub_a": 3.0, "sub_b": 10.0}  # new buckets start full
    assert rate_tokens.granted(available["sub_a"], 5) == 3 and rate_tokens.granted(available["sub_b"], 4) == 4
    again = await rate_tokens.take(db, [("sub_a", 2.0, 3.0, 5)])
    assert again["sub_a"] == pytest.approx(0.0, abs=0.1)  # drained: nothing granted
    assert rate_tokens.granted(again["sub_a"], 5) == 0
    # A second later the bucket has refilled two tokens (its rate), never beyond its burst.
    async with db.write() as conn:
        await conn.execute(update(endpoint_tokens).values(updated_at=endpoint_tokens.c.updated_at - 1.0))
    later = await rate_tokens.take(db, [("sub_a", 2.0, 3.0, 1), ("sub_b", 10.0, 10.0, 1)])
    assert later["sub_a"] == pytest.approx(2.0, abs=0.1)
    assert later["sub_b"] == pytest.approx(10.0)  # 6 left + 10 refilled, capped at the burst
    assert await rate_tokens.take(db, []) == {}


async def test_two_dispatchers_together_keep_to_the_endpoints_rate(
    db: Database, box: SecretBox, kit: Kit, until: Callable[..., Awaitable[None]]
) -> None:
    rate, burst, total = 10.0, 5, 40
    await kit.subscription("a1", url="https://limited.example/h", rate_limit=rate, rate_limit_burst=burst)
    await kit.publish("a1", *[(f"e{i}", "t") for i in range(total)])
    sent_at: list[float] = []

    async def handler(request: Request) -> Response:
        sent_at.append(time.monotonic())
        return Response(200, b"ok")

    def dispatcher() -> Dispatcher:
        settings = Settings(database_url=db.url, poll_interval=0.01, shutdown_grace=1.0, claim_batch=8)
        return Dispatcher(db, EndpointCache(db, box), MemoryTransport(handler), settings)

    async with running(dispatcher()), running(dispatcher()):
        await until(_all_delivered(kit), within=30)
    assert len(sent_at) == total
    # However the two workers split the deliveries, by any moment no more went out than the burst plus
    # what the rate allows since the first (one token of slack for clock edges).
    sent_at.sort()
    for i, at in enumerate(sent_at):
        assert i + 1 <= burst + rate * (at - sent_at[0]) + 1, (i, at - sent_at[0])


def _all_delivered(kit: Kit) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await kit.rows(deliveries)
        return bool(rows) and all(r["status"] == "delivered" for r in rows)

    return check
