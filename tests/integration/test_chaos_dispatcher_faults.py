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
