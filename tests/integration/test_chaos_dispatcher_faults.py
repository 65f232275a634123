"""The dispatcher outlives database errors at every step of its claim loop (the PostgreSQL restart chaos
test shows the whole system riding out real outages; the window between a claim and handing rows back is
too narrow to hit there, so here the failure is injected into that step)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from herald.config import Settings
from herald.dispatch.dispatcher import Dispatcher
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.transport import MemoryTransport
from herald.domain.models import Request, Response
from herald.store import queue as q
from herald.store.database import Database
from herald.store.secretbox import SecretBox
from herald.store.tables import deliveries

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import Kit


async def ok(request: Request) -> Response:
    return Response(200, b"ok")


async def test_database_gone_while_handing_rows_back_does_not_stop_the_dispatcher(
    db: Database,
    box: SecretBox,
    kit: Kit,
    until: Callable[..., Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await kit.subscription("a1", url="https://one.example/h")
    await kit.publish("a1", ("e1", "t"))
    settings = Settings(database_url=db.url, lease_seconds=0.3, poll_interval=0.01, shutdown_grace=1.0)
    endpoints = EndpointCache(db, box)
    dispatcher = Dispatcher(db, endpoints, MemoryTransport(ok), settings)

    # The first claim's endpoint lookup fails, and so does handing the rows back: the database is away.
    real_get_many, real_release = endpoints.get_many, q.release
    failures = {"get_many": 1, "release": 1}

    async def get_many(ids: Any) -> Any:
        if failures["get_many"]:
            failures["get_many"] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return await real_get_many(ids)

    async def release(*args: Any, **kwargs: Any) -> None:
        if failures["release"]:
            failures["release"] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        await real_release(*args, **kwargs)

    monkeypatch.setattr(endpoints, "get_many", get_many)
    monkeypatch.setattr(q, "release", release)
    task = asyncio.create_task(dispatcher.run())
    try:

        async def delivered() -> bool:
            assert not task.done(), f"the dispatcher stopped: {task.exception() if task.done() else ''}"
            rows = await kit.rows(deliveries)
            return rows[0]["status"] == "delivered"

        await until(delivered)  # after the lease of the first claim ran out
        assert failures == {"get_many": 0, "release": 0}
    finally:
        dispatcher.stop()
        await task


async def test_no_claims_while_outcomes_cannot_be_recorded(
    db: Database,
    box: SecretBox,
    kit: Kit,
    until: Callable[..., Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database is away just as an attempt's outcome is to be recorded, for longer than the lease.
    Claiming on meanwhile would send the delivery again once its lease ran out; instead the dispatcher
    waits for the outcome to be written, which finishes the delivery: it is sent exactly once."""
    await kit.subscription("a1", url="https://one.example/h")
    await kit.publish("a1", ("e1", "t"))
    settings = Settings(database_url=db.url, lease_seconds=0.3, poll_interval=0.01, shutdown_grace=1.0)
    transport = MemoryTransport(ok)
    dispatcher = Dispatcher(db, EndpointCache(db, box), transport, settings)

    real_record = q.record
    failures = {"record": 3}  # retried after 0.1 + 0.2 + 0.4 s: well past the 0.3 s lease

    async def record(*args: Any, **kwargs: Any) -> None:
        if failures["record"]:
            failures["record"] -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        await real_record(*args, **kwargs)

    monkeypatch.setattr(q, "record", record)
    task = asyncio.create_task(dispatcher.run())
    try:

        async def delivered() -> bool:
            rows = await kit.rows(deliveries)
            return rows[0]["status"] == "delivered"

        await until(delivered)
        await asyncio.sleep(0.5)  # a second send would come now if the row were still queued
    finally:
        dispatcher.stop()
        await task
    assert failures == {"record": 0}
    assert len(transport.requests) == 1
    assert [r["attempts"] for r in await kit.rows(deliveries)] == [1]
