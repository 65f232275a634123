"""LivePerson app installations: a manifest installed into one account, composed of existing tables.

An app installation is
- an application (its id is the installation id; its client id and client secret are LivePerson's),
  named after `client_name`; its `description` column holds a JSON document with the manifest fields
  that have no column of their own (`description`, `grant_types`, `scope`) plus a marker, so that only
  applications created here are app installations;
- its installation in the account (`enabled`, `retry.retention_time`);
- one application-owned `liveperson-connector` subscription per event type of `capabilities.webhooks`
  (`endpoint` → url, `max_retries`; absent max_retries is stored as 0, LivePerson's default).
The manifest given back is rebuilt from these rows.
"""

from __future__ import annotations

import json
from typing import Any

from herald.store import applications as app_store
from herald.store import subscriptions as sub_store
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.secretbox import SecretBox
from herald.store.subscriptions import Owner

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
        "max_retries": hook.get("max_retries") or 0,
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
    try:
        extra = json.loads(app["description"] or "")
    except ValueError:
        raise _not_found(app_id) from None
    if not isinstance(extra, dict) or extra.get("kind") != MARKER:
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
        "subscription_ids": {s["event_types"][0]: s["id"] for s in subs},
        "manifest": manifest,
        "created_at": app["created_at"],
        "updated_at": max(app["updated_at"], installation["updated_at"]),
    }


async def replace(
    db: Database, box: SecretBox, account_id: str, app_id: str, manifest: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Replace the manifest (client id and secret stay); also the ids of the subscriptions changed."""
    await get(db, account_id, app_id)
    installation = await _installation(db, app_id, account_id)
    owner = Owner(application_id=app_id)
    await app_store.update_application(
        db, app_id, {"name": manifest["client_name"], "description": _extra(manifest)}
    )
    await app_store.update_installation(
        db,
        app_id,
        installation["id"],
        {"enabled": manifest.get("enabled", True), "retention_time": _retention(manifest)},
    )
    wanted = _webhooks(manifest)
    changed: list[str] = []
    for sub in await _subscriptions(db, app_id):
        event_type = sub["event_types"][0]
        if event_type not in wanted:
            await sub_store.delete_subscription(db, owner, sub["id"])
        else:
            hook = wanted.pop(event_type)
            fields = _sub_fields(event_type, hook)
            await sub_store.update_subscription(
                db, box, owner, sub["id"], {"url": fields["url"], "max_retries": fields["max_retries"]}
            )
        changed.append(sub["id"])
    for event_type, hook in wanted.items():
        await sub_store.create_subscription(db, box, owner, _sub_fields(event_type, hook))
    return await get(db, account_id, app_id), changed


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
