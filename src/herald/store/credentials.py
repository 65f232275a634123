"""Credentials of an account: create (secrets shown once), list/get (masked), rotate with a grace period,
delete (refused while a subscription uses one)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from herald.domain.credentials import MULTI_SIGNATURE, Credential, Scheme, mask, new_secret, public_key_of
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.secretbox import SecretBox
from herald.store.tables import credentials, subscriptions

DEFAULT_GRACE = 86_400.0


def _public(row: dict[str, Any], box: SecretBox, shown: str | None = None) -> dict[str, Any]:
    """The API view: settings, the secret masked (or shown, once), the public key when there is one."""
    secret = box.decrypt(row["secret"])
    out = {k: v for k, v in row.items() if k not in ("secret", "previous_secret", "config")}
    out.update(row["config"])
    out["secret"] = shown if shown is not None else mask(secret)
    out["secret_shown"] = shown is not None
    out["public_key"] = public_key_of(secret)
    now = time.time()
    out["previous_active"] = bool(row["previous_secret"]) and (row["previous_expires_at"] or 0) > now
    out["multiple_signatures"] = Scheme(row["scheme"]) in MULTI_SIGNATURE
    return out


async def create_credential(
    db: Database,
    box: SecretBox,
    account_id: str,
    name: str,
    scheme: Scheme,
    config: dict[str, Any],
    given_secret: str | None,
) -> dict[str, Any]:
    now = time.time()
    config = dict(config)
    if scheme is Scheme.LP_SIGNATURE:
        config["client_id"] = secrets.token_hex(16)  # "Generate Key": client id and key come from Herald
        given_secret = None
    secret = new_secret(scheme, config, given_secret)
    row = {
        "id": new_id("cred"),
        "account_id": account_id,
        "name": name,
        "scheme": scheme.value,
        "config": config,
        "secret": box.encrypt(secret),
        "previous_secret": None,
        "previous_expires_at": None,
        "created_at": now,
        "updated_at": now,
        "rotated_at": None,
    }
    async with db.write() as conn:
        await conn.execute(insert(credentials), row)
    return _public(row, box, shown=secret)


async def _row(db: Database, account_id: str, credential_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    select(credentials).where(
                        credentials.c.account_id == account_id, credentials.c.id == credential_id
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"credential {credential_id} not found", field="credential_id")
    return dict(row)


async def get_credential(db: Database, box: SecretBox, account_id: str, credential_id: str) -> dict[str, Any]:
    return _public(await _row(db, account_id, credential_id), box)


async def signing_view(db: Database, box: SecretBox, account_id: str, credential_id: str) -> Credential:
    """The credential as the dispatcher signs with it (secrets decrypted): for checking a signature."""
    return delivery_view(await _row(db, account_id, credential_id), box, time.time())


async def list_credentials(
    db: Database, box: SecretBox, account_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(
        select(credentials).where(credentials.c.account_id == account_id),
        credentials.c.created_at,
        credentials.c.id,
        limit,
        cursor,
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    data, next_cursor = split_page(rows, limit)
    return [_public(r, box) for r in data], next_cursor


async def rotate_credential(
    db: Database, box: SecretBox, account_id: str, credential_id: str, grace: float, given_secret: str | None
) -> dict[str, Any]:
    """A new secret, shown once. Schemes that carry several signatures keep signing with the old one too
    until the grace period ends; the others switch at once."""
    row = await _row(db, account_id, credential_id)
    scheme = Scheme(row["scheme"])
    secret = new_secret(scheme, row["config"], None if scheme is Scheme.LP_SIGNATURE else given_secret)
    now = time.time()
    keeps_old = scheme in MULTI_SIGNATURE and grace > 0
    values = {
        "secret": box.encrypt(secret),
        "previous_secret": row["secret"] if keeps_old else None,
        "previous_expires_at": now + grace if keeps_old else None,
        "rotated_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        await conn.execute(update(credentials).where(credentials.c.id == credential_id).values(**values))
    return _public({**row, **values}, box, shown=secret)


async def delete_credential(db: Database, account_id: str, credential_id: str) -> None:
    async with db.write() as conn:
        users = await conn.scalar(select(func.count()).where(subscriptions.c.credential_id == credential_id))
        if users:
            raise Conflict(
                f"credential {credential_id} is used by {users} subscription(s); detach it first",
                field="credential_id",
                subscriptions=users,
            )
        result = await conn.execute(
            delete(credentials).where(
                credentials.c.account_id == account_id, credentials.c.id == credential_id
            )
        )
        if result.rowcount == 0:
            raise NotFound(f"credential {credential_id} not found", field="credential_id")


def delivery_view(row: dict[str, Any], box: SecretBox, now: float) -> Credential:
    """What the dispatcher signs with: the current secret, and the previous one while its grace lasts."""
    keys = [box.decrypt(row["secret"])]
    if row["previous_secret"] and (row["previous_expires_at"] or 0) > now:
        keys.append(box.decrypt(row["previous_secret"]))
    return Credential(id=row["id"], scheme=Scheme(row["scheme"]), config=row["config"], secrets=tuple(keys))
