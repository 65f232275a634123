"""Customer portal links: one-time URLs that sign a browser into /ui for one account.

The link's token is shown once and kept only as its sha256. Redeeming it is one conditional UPDATE (not used,
not revoked, not expired), so two browsers racing for the same link cannot both get in. The session it
opens stays tied to the link row: revoking the link or reaching `expires_at` ends it at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from herald.domain import scopes as sc
from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Invalid, NotFound
from herald.store.tables import portal_links, subscriptions

TOKEN_PREFIX = "hpl_"


@dataclass(frozen=True, slots=True)
class PortalGrant:
    """What an open portal session may see: one account, maybe read-only, maybe some subscriptions."""

    link_id: str
    account_id: str
    read_only: bool
    subscription_ids: frozenset[str] | None
    expires_at: float

    @property
    def scopes(self) -> frozenset[str]:
        return scopes_of(self.read_only)


def scopes_of(read_only: bool) -> frozenset[str]:
    """The scopes a portal session holds: the creator of a link must hold them too (no escalation)."""
    if read_only:
        return sc.expand([sc.DELIVERIES_READ, sc.STATE_RO])
    return sc.expand([sc.CONFIGURATION_RW, sc.DELIVERIES_RW, sc.STATE_RW])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _grant(row: Any) -> PortalGrant:
    ids = row.subscription_ids
    return PortalGrant(
        link_id=row.id,
        account_id=row.account_id,
        read_only=bool(row.read_only),
        subscription_ids=frozenset(ids) if ids is not None else None,
        expires_at=row.expires_at,
    )


async def create_link(
    db: Database, account_id: str, expires_in: float, read_only: bool, subscription_ids: list[str] | None
) -> tuple[dict[str, Any], str]:
    """The new link row and its token (shown once). Subscriptions must be the account's own (422 naming the
    first that is not)."""
    now = time.time()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": new_id("plk"),
        "account_id": account_id,
        "token_hash": _hash(token),
        "read_only": read_only,
        "subscription_ids": sorted(set(subscription_ids)) if subscription_ids is not None else None,
        "created_at": now,
        "expires_at": now + expires_in,
        "used_at": None,
        "revoked_at": None,
    }
    async with db.write() as conn:
        if subscription_ids:
            s = subscriptions.c
            known = set(
                (
                    await conn.scalars(
                        select(s.id).where(s.id.in_(subscription_ids), s.account_id == account_id)
                    )
                ).all()
            )
            for index, sub_id in enumerate(subscription_ids):
                if sub_id not in known:
                    raise Invalid(
                        f"subscription_ids.{index}: no subscription {sub_id} in account {account_id}",
                        field=f"subscription_ids.{index}",
                    )
        await conn.execute(portal_links.insert(), row)
    return _public(row), token


def _public(row: Any) -> dict[str, Any]:
    out = dict(row)
    out.pop("token_hash", None)
    return out


async def redeem(db: Database, token: str) -> PortalGrant | None:
    """Use the link once; None when it is unknown, used, revoked or expired."""
    p = portal_links.c
    now = time.time()
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(portal_links)
                .where(
                    p.token_hash == _hash(token),
                    p.used_at.is_(None),
                    p.revoked_at.is_(None),
                    p.expires_at > now,
                )
                .values(used_at=now)
                .returning(p.id, p.account_id, p.read_only, p.subscription_ids, p.expires_at)
            )
        ).first()
    return _grant(row) if row is not None else None


async def active_grant(db: Database, link_id: str) -> PortalGrant | None:
    """The grant of a redeemed link whose session may go on (not revoked, not expired)."""
    p = portal_links.c
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(p.id, p.account_id, p.read_only, p.subscription_ids, p.expires_at).where(
                    p.id == link_id, p.revoked_at.is_(None), p.expires_at > time.time()
                )
            )
        ).first()
    return _grant(row) if row is not None else None


async def list_links(db: Database, account_id: str) -> list[dict[str, Any]]:
    p = portal_links.c
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(portal_links)
                .where(p.account_id == account_id)
                .order_by(p.created_at.desc())
                .limit(250)
            )
        ).mappings()
        return [_public(r) for r in rows]


async def revoke(db: Database, account_id: str, link_id: str) -> dict[str, Any]:
    """Revoke a link (and end the session it opened). Revoking twice keeps the first time."""
    p = portal_links.c
    async with db.write() as conn:
        row = (
            (await conn.execute(select(portal_links).where(p.id == link_id, p.account_id == account_id)))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"portal link {link_id} not found", field="link_id")
        out = dict(row)
        if out["revoked_at"] is None:
            out["revoked_at"] = time.time()
            await conn.execute(
                update(portal_links).where(p.id == link_id).values(revoked_at=out["revoked_at"])
            )
    return _public(out)
