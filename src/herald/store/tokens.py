"""Access tokens: personal access tokens of one account (kind `pat`) and OAuth client-credentials tokens
of an application (kind `oauth`). Only the sha256 of a token is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.pagination import page, split_page
from herald.store.tables import access_tokens, installations

PAT_PREFIX = "hpat_"
OAUTH_PREFIX = "hoat_"

_PUBLIC = [c for c in access_tokens.c if c.name != "token_hash"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a valid token grants."""

    id: str
    kind: str  # pat | oauth
    account_id: str | None
    application_id: str | None
    scopes: tuple[str, ...]
    expires_at: float | None


async def _insert(db: Database, row: dict[str, Any]) -> None:
    async with db.write() as conn:
        await conn.execute(insert(access_tokens), row)


async def create_pat(
    db: Database, account_id: str, name: str | None, scopes: tuple[str, ...], expires_in: float | None
) -> dict[str, Any]:
    """A new personal access token of an account; the answer carries the token (shown once)."""
    now = time.time()
    token = _new_token(PAT_PREFIX)
    row = {
        "id": new_id("tok"),
        "kind": "pat",
        "token_hash": hash_token(token),
        "name": name,
        "account_id": account_id,
        "application_id": None,
        "scopes": list(scopes),
        "created_at": now,
        "expires_at": now + expires_in if expires_in is not None else None,
        "revoked_at": None,
        "last_used_at": None,
    }
    await _insert(db, row)
    out = {k: v for k, v in row.items() if k != "token_hash"}
    return {**out, "token": token}


async def create_oauth_token(
    db: Database, application_id: str, account_id: str | None, scopes: tuple[str, ...], ttl: float
) -> tuple[str, dict[str, Any]]:
    now = time.time()
    token = _new_token(OAUTH_PREFIX)
    row = {
        "id": new_id("tok"),
        "kind": "oauth",
        "token_hash": hash_token(token),
        "name": None,
        "account_id": account_id,
        "application_id": application_id,
        "scopes": list(scopes),
        "created_at": now,
        "expires_at": now + ttl,
        "revoked_at": None,
        "last_used_at": None,
    }
    await _insert(db, row)
    return token, row


async def resolve(db: Database, token: str, now: float | None = None) -> TokenGrant | None:
    """The grant of a live token (not revoked, not expired), or None."""
    now = time.time() if now is None else now
    async with db.read() as conn:
        row = (
            (await conn.execute(select(access_tokens).where(access_tokens.c.token_hash == hash_token(token))))
            .mappings()
            .first()
        )
    if row is None or row["revoked_at"] is not None:
        return None
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return None
    return TokenGrant(
        id=row["id"],
        kind=row["kind"],
        account_id=row["account_id"],
        application_id=row["application_id"],
        scopes=tuple(row["scopes"]),
        expires_at=row["expires_at"],
    )


async def touch(db: Database, token_id: str, when: float) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(access_tokens).where(access_tokens.c.id == token_id).values(last_used_at=when)
        )


async def list_pats(
    db: Database, account_id: str, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(
        select(*_PUBLIC).where(access_tokens.c.kind == "pat", access_tokens.c.account_id == account_id),
        access_tokens.c.created_at,
        access_tokens.c.id,
        limit,
        cursor,
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def revoke_pat(db: Database, account_id: str, token_id: str) -> None:
    """Revoke a personal access token of the account (revoking twice is fine; unknown ids are not)."""
    async with db.write() as conn:
        found = await conn.scalar(
            select(access_tokens.c.revoked_at.is_(None)).where(
                access_tokens.c.id == token_id,
                access_tokens.c.kind == "pat",
                access_tokens.c.account_id == account_id,
            )
        )
        if found is None:
            raise NotFound(f"token {token_id} not found", field="token_id")
        if found:
            await conn.execute(
                update(access_tokens).where(access_tokens.c.id == token_id).values(revoked_at=time.time())
            )


async def is_installed(db: Database, application_id: str, account_id: str) -> bool:
    async with db.read() as conn:
        found = await conn.scalar(
            select(installations.c.id).where(
                installations.c.application_id == application_id, installations.c.account_id == account_id
            )
        )
    return found is not None
