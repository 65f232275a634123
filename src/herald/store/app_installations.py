"""LivePerson app installations: a manifest installed into one account, composed of existing tables.

An app installation is
- an application (its id is the installation id; its client id and client secret are LivePerson's),
  named after `client_name`; its `description` column holds a JSON document with the manifest fields
  that have no column of their own (`description`, `grant_types`, `scope`) plus a marker, so that only
  applications created here are app installations;
- its installation in the account (`enabled`, `retry.retention_time`);
- one application-owned `liveperson-connector` subscription per event type of `capabilities.webhooks`
  (`endpoint` → url, `max_retries`; an absent max_retries is stored as NULL and shown as 0, LivePerson's
  default — only an explicit 0 has the TTL exception of herald.domain.ttl.counts_as_failure).
The manifest given back is rebuilt from these rows. Replacing a manifest is one transaction.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from herald.domain.signing import generate_client_secret
from herald.ids import new_id
from herald.store import applications as app_store
from herald.store import subscriptions as sub_store
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner, cancel_queued
from herald.store.tables import applications, installations, subscriptions

MARKER = "liveperson-app-installation"
PROFILE = "liveperson-connector"
CONNECTOR_EVENT_TYPES = (
    "cqm.ExConversationChangeNotification",
    "ms.MessagingEventNotification.ContentEvent",
    "ms.MessagingEventNotification.RichContentEvent",
    "ms.MessagingEventNotification.ChatStateEvent",
    "ms.MessagingEventNotification.AcceptStatusEvent",
)


def _not_found(app_id: str) -> NotFound:
    return NotFound(f"app installation {app_id} not found", field="app_id")


def manifest_extra(description: str | None) -> dict[str, Any] | None:
    """The manifest fields kept in an application's `description` when a LivePerson manifest made it;
    None for any other application (whose description is the user's own text)."""
    try:
        extra = json.loads(description or "")
    except ValueError:
        return None
    return extra if isinstance(extra, dict) and extra.get("kind") == MARKER else None


def _extra(manifest: dict[str, Any]) -> str:
    return json.dumps(
        {
            "kind": MARKER,
            "description": manifest.get("description"),
            "grant_types": manifest.get("grant_types", []),
            "scope": manifest.get("scope"),
        }
    )


def _webhooks(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hooks = manifest["capabilities"]["webhooks"]
    return {k: v for k, v in hooks.items() if k in CONNECTOR_EVENT_TYPES and v is not None}


def _retention(manifest: dict[str, Any]) -> int | None:
    retry = manifest["capabilities"]["webhooks"].get("retry")
    return None if retry is None else int(retry["retention_time"])


def _sub_fields(event_type: str, hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": hook["endpoint"],
        "event_types": [event_type],
        "name": event_type,
        "description": None,
        "profile": PROFILE,
        "ordered": False,
        "max_retries": hook.get("max_retries"),
    }


async def create(db: Database, box: SecretBox, account_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Install the manifest into the account; the result carries the client secret (shown once)."""
    app = await app_store.create_application(db, box, manifest["client_name"], _extra(manifest))
    owner = Owner(application_id=app["id"])
    try:
        await app_store.create_installation(
            db, app["id"], account_id, manifest.get("enabled", True), None, _retention(manifest)
        )
        for event_type, hook in _webhooks(manifest).items():
            await sub_store.create_subscription(db, box, owner, _sub_fields(event_type, hook))
    except BaseException:
        await _remove(db, app["id"], account_id)
        raise
    return {**await get(db, account_id, app["id"]), "client_secret": app["client_secret"]}


async def _installation(db: Database, app_id: str, account_id: str) -> dict[str, Any]:
    rows, _ = await app_store.list_installations(db, app_id, 1, None, account_id)
    if not rows:
        raise _not_found(app_id)
    return rows[0]


async def _subscriptions(db: Database, app_id: str) -> list[dict[str, Any]]:
    rows, _ = await sub_store.list_subscriptions(db, Owner(application_id=app_id), 250, None)
    return rows


async def get(db: Database, account_id: str, app_id: str) -> dict[str, Any]:
    """The installation with its manifest rebuilt from the rows; NotFound unless it is installed here."""
    try:
        app = await app_store.get_application(db, app_id)
    except NotFound:
        raise _not_found(app_id) from None
    extra = manifest_extra(app["description"])
    if extra is None:
        raise _not_found(app_id)
    installation = await _installation(db, app_id, account_id)
    webhooks: dict[str, Any] = {}
    if installation["retention_time"] is not None:
        webhooks["retry"] = {"retention_time": installation["retention_time"]}
    subs = await _subscriptions(db, app_id)
    for sub in sorted(subs, key=lambda s: CONNECTOR_EVENT_TYPES.index(s["event_types"][0])):
        webhooks[sub["event_types"][0]] = {"endpoint": sub["url"], "max_retries": sub["max_retries"] or 0}
    manifest: dict[str, Any] = {"client_name": app["name"]}
    if extra.get("description") is not None:
        manifest["description"] = extra["description"]
    manifest["enabled"] = installation["enabled"]
    manifest["grant_types"] = extra.get("grant_types", [])
    if extra.get("scope") is not None:
        manifest["scope"] = extra["scope"]
    manifest["capabilities"] = {"webhooks": webhooks}
    return {
        "id": app_id,
        "account_id": account_id,
        "client_id": app["client_id"],
        "enabled": installation["enabled"],
        "state": installation["state"],
        "state_changed_at": installation["state_changed_at"],
        "installation_id": installation["id"],
        "subscription_ids": {s["event_types"][0]: s["id"] for s in subs},
        "manifest": manifest,
        "created_at": app["created_at"],
        "updated_at": max(app["updated_at"], installation["updated_at"]),
    }


async def replace(
    db: Database, box: SecretBox, account_id: str, app_id: str, manifest: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Replace the manifest (client id and secret stay); also the ids of the subscriptions changed.

    One write transaction on both backends: the application, the installation and every subscription
    change together or not at all."""
    await get(db, account_id, app_id)
    now = time.time()
    owned = subscriptions.c.application_id == app_id
    wanted = _webhooks(manifest)
    changed: list[str] = []
    async with db.write() as conn:
        await conn.execute(
            sa.update(applications)
            .where(applications.c.id == app_id)
            .values(name=manifest["client_name"], description=_extra(manifest), updated_at=now)
        )
        result = await conn.execute(
            sa.update(installations)
            .where(installations.c.application_id == app_id, installations.c.account_id == account_id)
            .values(
                enabled=manifest.get("enabled", True), retention_time=_retention(manifest), updated_at=now
            )
        )
        if result.rowcount != 1:
            raise _not_found(app_id)  # deleted meanwhile: the transaction rolls back
        current = (
            await conn.execute(sa.select(subscriptions.c.id, subscriptions.c.event_types).where(owned))
        ).all()
        for sub_id, event_types in current:
            event_type = event_types[0]
            if event_type not in wanted:
                await cancel_queued(conn, sub_id)
                await conn.execute(sa.delete(subscriptions).where(owned, subscriptions.c.id == sub_id))
            else:
                fields = _sub_fields(event_type, wanted.pop(event_type))
                await conn.execute(
                    sa.update(subscriptions)
                    .where(owned, subscriptions.c.id == sub_id)
                    .values(url=fields["url"], max_retries=fields["max_retries"], updated_at=now)
                )
            changed.append(sub_id)
        for event_type, hook in wanted.items():
            await conn.execute(
                sa.insert(subscriptions),
                {
                    **_sub_fields(event_type, hook),
                    "id": new_id("sub"),
                    "application_id": app_id,
                    "account_id": None,
                    # Unused: connector deliveries of an application are signed with its client secret.
                    "secret": box.encrypt(generate_client_secret()),
                    "client_id": None,
                    "enabled": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    return await get(db, account_id, app_id), changed


async def list_for_account(
    db: Database, account_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The account's app installations, newest application first (cursor over the applications)."""
    query = (
        sa.select(applications.c.id, applications.c.created_at)
        .select_from(applications.join(installations, installations.c.application_id == applications.c.id))
        .where(installations.c.account_id == account_id, applications.c.description.like(f'%"{MARKER}"%'))
    )
    async with db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(page(query, applications.c.created_at, applications.c.id, limit, cursor))
            ).mappings()
        ]
    ids, next_cursor = split_page(rows, limit)
    out = []
    for row in ids:
        try:
            out.append(await get(db, account_id, row["id"]))
        except NotFound:
            continue  # removed between the two reads
    return out, next_cursor


async def _remove(db: Database, app_id: str, account_id: str) -> list[str]:
    owner = Owner(application_id=app_id)
    removed = []
    for sub in await _subscriptions(db, app_id):
        await sub_store.delete_subscription(db, owner, sub["id"])
        removed.append(sub["id"])
    rows, _ = await app_store.list_installations(db, app_id, 1, None, account_id)
    for row in rows:
        await app_store.delete_installation(db, app_id, row["id"])
    await app_store.delete_application(db, app_id)
    return removed


async def delete(db: Database, account_id: str, app_id: str) -> list[str]:
    """Remove the subscriptions, the installation and the application; the ids of the subscriptions."""
    await get(db, account_id, app_id)
    return await _remove(db, app_id, account_id)
