"""Helpers for the storage conformance suite: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Table, select, update

from herald.domain.models import AttemptRecord, ClaimedDelivery, ErrorKind
from herald.store import applications as app_store
from herald.store.database import Database
from herald.store.publish import NewEvent, PublishResult, publish
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, create_subscription
from herald.store.tables import queue


class Kit:
    """Short ways to build state and look at it with plain SQL."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def subscription(
        self,
        account_id: str | None = "a1",
        *,
        application_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "url": "https://example.com/hook",
            "event_types": ["*"],
            "name": None,
            "description": None,
            "profile": "standard",
            "ordered": False,
            "max_retries": None,
        }
        values.update(fields)
        owner = (
            Owner(application_id=application_id)
            if application_id is not None
            else Owner(account_id=account_id)
        )
        return await create_subscription(self.db, self.box, owner, values)

    async def application(self, name: str = "app") -> dict[str, Any]:
        return await app_store.create_application(self.db, self.box, name, None)

    async def install(
        self,
        app_id: str,
        account_id: str,
        *,
        enabled: bool = True,
        max_retries: int | None = None,
        retention_time: int | None = None,
    ) -> dict[str, Any]:
        return await app_store.create_installation(
            self.db, app_id, account_id, enabled, max_retries, retention_time
        )

    async def publish(self, account_id: str, *events: NewEvent | tuple[str, str]) -> PublishResult:
        batch = [
            e if isinstance(e, NewEvent) else NewEvent(id=e[0], type=e[1], timestamp=1.0, data='{"n":1}')
            for e in events
        ]
        return await publish(self.db, account_id, batch)

    async def rows(self, table: Table, *where: Any) -> list[dict[str, Any]]:
        query = select(table)
        if where:
            query = query.where(*where)
        async with self.db.read() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def one(self, table: Table, *where: Any) -> dict[str, Any]:
        found = await self.rows(table, *where)
        assert len(found) == 1, found
        return found[0]

    async def expire_leases(self, *where: Any) -> None:
        """Pretend the leases ran out: make queue rows due again."""
        async with self.db.write() as conn:
            await conn.execute(update(queue).where(*where).values(available_at=time.time() - 1))

    @staticmethod
    def record(
        claimed: ClaimedDelivery,
        *,
        succeeded: bool = True,
        next_attempt_at: float | None = None,
        status_code: int | None = 200,
        error_kind: ErrorKind | None = None,
        error_message: str | None = None,
        response_body: str | None = "ok",
        headers: dict[str, str] | None = None,
        attempted_at: float | None = None,
        duration_ms: float = 12.5,
    ) -> AttemptRecord:
        return AttemptRecord(
            claimed=claimed,
            attempted_at=time.time() if attempted_at is None else attempted_at,
            duration_ms=duration_ms,
            status_code=status_code,
            error_kind=error_kind,
            error_message=error_message,
            response_body=response_body,
            request_headers=headers if headers is not None else {"webhook-id": claimed.delivery_id},
            next_attempt_at=next_attempt_at,
            succeeded=succeeded,
        )

    @staticmethod
    def failure(claimed: ClaimedDelivery, next_attempt_at: float | None) -> AttemptRecord:
        return Kit.record(
            claimed,
            succeeded=False,
            next_attempt_at=next_attempt_at,
            status_code=500,
            error_kind=ErrorKind.BAD_STATUS,
            error_message="endpoint answered 500",
            response_body="boom",
        )


@pytest.fixture
def kit(db: Database, box: SecretBox) -> Kit:
    return Kit(db, box)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], within: float = 10.0, interval: float = 0.02
) -> None:
    """Poll until the predicate holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {within}s")
        await asyncio.sleep(interval)


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    return wait_until
