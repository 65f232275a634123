"""Applications and their installations into accounts."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from herald.domain.operational import system_account
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import cancel_queued
from herald.store.tables import (
    access_tokens,
    applications,
    installations,
    livechat_license_webhooks,
    subscriptions,
)

_APP_PUBLIC = [c for c in applications.c if c.name != "client_secret"]


async def create_application(
    db: Database,
    box: SecretBox,
    name: str,
    description: str | None,
    client_id: str | None = None,
    owner_account_id: str | None = None,
) -> dict[str, Any]:
    """`client_id` keeps an existing one (a LiveChat app moving to Herald); by default a new one."""
    now = time.time()
    client_secret = secrets.token_urlsafe(32)
    row = {
        "id": new_id("app"),
        "name": name,
        "description": description,
        "client_id": client_id or secrets.token_hex(16),
        "client_secret": box.encrypt(client_secret),
        "owner_account_id": owner_account_id,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(applications), row)
    except IntegrityError:
        raise Conflict(f"client_id {client_id} is taken", field="client_id") from None
    return {**row, "client_secret": client_secret}


async def get_application(db: Database, app_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (await conn.execute(select(*_APP_PUBLIC).where(applications.c.id == app_id))).mappings().first()
    if row is None:
        raise NotFound(f"application {app_id} not found", field="application_id")
    return dict(row)


async def client_secret_of(db: Database, box: SecretBox, client_id: str) -> tuple[str, str] | None:
    """(application id, client secret) of the application with this client id, or None."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(applications.c.id, applications.c.client_secret).where(
                    applications.c.client_id == client_id
                )
            )
        ).first()
    return None if row is None else (row.id, box.decrypt(row.client_secret))


async def list_applications(
    db: Database, limit: int, cursor: str | None, only_id: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Every application, newest first (`only_id`: just that one, for an application's own token)."""
    query = select(*_APP_PUBLIC)
    if only_id is not None:
        query = query.where(applications.c.id == only_id)
    query = page(query, applications.c.created_at, applications.c.id, limit, cursor)
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def update_application(db: Database, app_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    if changes:
        async with db.write() as conn:
            result = await conn.execute(
                update(applications)
                .where(applications.c.id == app_id)
                .values(**changes, updated_at=time.time())
            )
            if result.rowcount == 0:
                raise NotFound(f"application {app_id} not found", field="application_id")
    return await get_application(db, app_id)


async def delete_application(db: Database, app_id: str) -> None:
    async with db.write() as conn:
        found = await conn.scalar(select(func.count()).where(applications.c.id == app_id))
        if not found:
            raise NotFound(f"application {app_id} not found", field="application_id")
        for table, what in ((subscriptions, "subscriptions"), (installations, "installations")):
            count = await conn.scalar(select(func.count()).where(table.c.application_id == app_id))
            if count:
                raise Conflict(
                    f"application {app_id} still has {count} {what}; delete them first",
                    field="application_id",
                    **{what: count},
                )
        await conn.execute(delete(access_tokens).where(access_tokens.c.application_id == app_id))
        await conn.execute(
            delete(livechat_license_webhooks).where(livechat_license_webhooks.c.application_id == app_id)
        )
        # Its operational URL's system subscription goes with it (store/operational.py).
        ops_subs = select(subscriptions.c.id).where(subscriptions.c.account_id == system_account(app_id))
        for sub_id in (await conn.execute(ops_subs)).scalars().all():
            await cancel_queued(conn, sub_id)
        await conn.execute(delete(subscriptions).where(subscriptions.c.account_id == system_account(app_id)))
        await conn.execute(delete(applications).where(applications.c.id == app_id))


async def create_installation(
    db: Database,
    app_id: str,
    account_id: str,
    enabled: bool,
    max_retries: int | None,
    retention_time: int | None,
) -> dict[str, Any]:
    await get_application(db, app_id)
    now = time.time()
    row = {
        "id": new_id("ins"),
        "application_id": app_id,
        "account_id": account_id,
        "enabled": enabled,
        "max_retries": max_retries,
        "retention_time": retention_time,
        "state": "UP",
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(installations), row)
    except IntegrityError as exc:
        raise Conflict(
            f"application {app_id} is already installed in account {account_id}", field="account_id"
        ) from exc
    return row


async def get_installation(db: Database, app_id: str, installation_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(installations).where(
                        installations.c.application_id == app_id, installations.c.id == installation_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"installation {installation_id} not found", field="installation_id")
    return dict(row)


async def list_installations(
    db: Database, app_id: str, limit: int, cursor: str | None, account_id: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The application's installations (`account_id`: only the one in that account)."""
    await get_application(db, app_id)
    query = select(installations).where(installations.c.application_id == app_id)
    if account_id is not None:
        query = query.where(installations.c.account_id == account_id)
    query = page(
        query,
        installations.c.created_at,
        installations.c.id,
        limit,
        cursor,
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def update_installation(
    db: Database, app_id: str, installation_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    if changes:
        async with db.write() as conn:
            result = await conn.execute(
                update(installations)
                .where(installations.c.application_id == app_id, installations.c.id == installation_id)
                .values(**changes, updated_at=time.time())
            )
            if result.rowcount == 0:
                raise NotFound(f"installation {installation_id} not found", field="installation_id")
    return await get_installation(db, app_id, installation_id)


async def delete_installation(db: Database, app_id: str, installation_id: str) -> None:
    async with db.write() as conn:
        result = await conn.execute(
            delete(installations).where(
                installations.c.application_id == app_id, installations.c.id == installation_id
            )
        )
        if result.rowcount == 0:
            raise NotFound(f"installation {installation_id} not found", field="installation_id")
