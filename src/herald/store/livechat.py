"""LiveChat webhooks: application-owned subscriptions with the `livechat` profile, and the per-license
switch (`livechat_license_webhooks`) that decides whether they fire in an account."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from herald.domain import livechat as domain
from herald.domain.livechat import WEBHOOK_LIMIT
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import NotFound, StoreError
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import cancel_queued
from herald.store.tables import applications, livechat_license_webhooks, subscriptions


class LimitReached(StoreError):
    """Already WEBHOOK_LIMIT webhooks for this action and client id."""


async def application_by_client_id(db: Database, client_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(
                        applications.c.id, applications.c.client_id, applications.c.owner_account_id
                    ).where(
                        applications.c.client_id == client_id
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def register_webhook(
    db: Database,
    box: SecretBox,
    application_id: str,
    *,
    url: str,
    action: str,
    secret_key: str,
    description: str | None,
    options: dict[str, Any],
) -> str:
    """Create the subscription; LimitReached past WEBHOOK_LIMIT per action. The count and the insert share
    one transaction, serialised per application by locking its row (PostgreSQL; SQLite has one writer)."""
    now = time.time()
    sub_id = new_id("sub")
    async with db.write() as conn:
        await conn.execute(
            select(applications.c.id).where(applications.c.id == application_id).with_for_update()
        )
        # JSON columns do not compare on PostgreSQL: count in Python (a client has few webhooks).
        registered = await conn.scalars(
            select(subscriptions.c.event_types).where(
                subscriptions.c.application_id == application_id, subscriptions.c.livechat.is_not(None)
            )
        )
        count = sum(1 for types in registered if types == [action])
        if count >= WEBHOOK_LIMIT:
            raise LimitReached("Limit reached", field="action", limit=WEBHOOK_LIMIT)
        await conn.execute(
            insert(subscriptions),
            {
                "id": sub_id,
                "application_id": application_id,
                "account_id": None,
                "name": None,
                "description": description,
                "url": url,
                "event_types": [action],
                "profile": "livechat",
                "ordered": False,
                "max_retries": None,
                "secret": box.encrypt(secret_key),
                "client_id": None,
                "livechat": options,
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            },
        )
    return sub_id


async def list_webhooks(db: Database, application_id: str) -> list[dict[str, Any]]:
    query = (
        select(
            subscriptions.c.id,
            subscriptions.c.url,
            subscriptions.c.description,
            subscriptions.c.event_types,
            subscriptions.c.livechat,
        )
        .where(subscriptions.c.application_id == application_id, subscriptions.c.livechat.is_not(None))
        .order_by(subscriptions.c.created_at, subscriptions.c.id)
    )
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def unregister_webhook(db: Database, application_id: str, webhook_id: str) -> None:
    """Delete it (queued deliveries are cancelled); NotFound if it is not this application's webhook."""
    async with db.write() as conn:
        result = await conn.execute(
            delete(subscriptions).where(
                subscriptions.c.id == webhook_id,
                subscriptions.c.application_id == application_id,
                subscriptions.c.livechat.is_not(None),
            )
        )
        if result.rowcount == 0:
            raise NotFound("webhook not found", field="id")
        await cancel_queued(conn, webhook_id)


def license_webhooks_on(enabled: ColumnElement[bool]) -> ColumnElement[bool]:
    """`domain.license_webhooks_on` in SQL, over an outer join of `livechat_license_webhooks`: no row
    (never switched) is on, like a row saying so; only `disable_license_webhooks` turns it off."""
    return enabled.is_not(False)


async def license_webhooks_enabled(db: Database, application_id: str, account_id: str) -> bool:
    """On from installation until the license turns it off (the row then outlives a reinstall)."""
    t = livechat_license_webhooks
    async with db.read() as conn:
        recorded = await conn.scalar(
            select(t.c.enabled).where(t.c.application_id == application_id, t.c.account_id == account_id)
        )
    return domain.license_webhooks_on(recorded)


async def set_license_webhooks(db: Database, application_id: str, account_id: str, enabled: bool) -> None:
    t = livechat_license_webhooks
    now = time.time()
    where = (t.c.application_id == application_id) & (t.c.account_id == account_id)
    for _ in range(2):  # update, else insert; a concurrent insert makes the second round an update
        try:
            async with db.write() as conn:
                result = await conn.execute(update(t).where(where).values(enabled=enabled, updated_at=now))
                if result.rowcount == 0:
                    await conn.execute(
                        insert(t),
                        {
                            "application_id": application_id,
                            "account_id": account_id,
                            "enabled": enabled,
                            "updated_at": now,
                        },
                    )
            return
        except IntegrityError:
            continue
    raise StoreError("could not record the license webhooks state")  # pragma: no cover
