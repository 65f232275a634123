"""The rows routing decides on (herald.domain.routing): one query for publish (every route of an account)
and replay (every account of one subscription), so the two cannot disagree about who gets an event.

A subscription delivers for an account when it is enabled and either the account owns it, or its
application is installed and enabled in the account; a LiveChat webhook only where its application's
webhooks are enabled for the account too (the per-license switch).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, RowMapping, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.domain.routing import Route, Subscribed, recovered_installations, route
from herald.store.livechat import license_webhooks_on
from herald.store.tables import (
    installations,
    livechat_license_webhooks,
    subscriptions,
    ttl_drain_conversations,
)

_OWN = Subscribed._fields[1:]  # every field but the account, read by its own name


async def _read(conn: AsyncConnection, account_id: str | None, *where: ColumnElement[bool]) -> list[Route]:
    """The routes; with `account_id`, only that account's (the installation join then uses its index)."""
    s, i, lw = subscriptions.c, installations.c, livechat_license_webhooks.c
    installed = i.application_id == s.application_id
    owned = and_(s.account_id.is_not(None), s.application_id.is_(None))
    if account_id is not None:
        installed = and_(installed, i.account_id == account_id)
        owned = and_(owned, s.account_id == account_id)
    query = (
        select(
            s.account_id.label("owner_account_id"),
            i.account_id.label("installed_account_id"),
            s.id,
            s.event_types,
            s.ordered,
            s.max_retries,
            s.retention_time,
            s.profile,
            s.filter,
            s.livechat,
            i.id.label("installation_id"),
            i.max_retries.label("installation_max_retries"),
            i.retention_time.label("installation_retention_time"),
            i.state.label("installation_state"),
        )
        .select_from(
            subscriptions.outerjoin(installations, installed).outerjoin(
                livechat_license_webhooks,
                and_(lw.application_id == s.application_id, lw.account_id == i.account_id),
            )
        )
        .where(
            s.enabled.is_(True),
            or_(owned, and_(s.application_id.is_not(None), i.enabled.is_(True))),
            or_(s.livechat.is_(None), license_webhooks_on(lw.enabled)),
            *where,
        )
    )
    return [route(_subscribed(m)) for m in (await conn.execute(query)).mappings()]


def _subscribed(m: RowMapping) -> Subscribed:
    account = m["installed_account_id"] or m["owner_account_id"]
    return Subscribed(account, *(m[name] for name in _OWN))


async def routes_for_account(conn: AsyncConnection, account_id: str) -> list[Route]:
    """Every route an event published in the account may take (publish)."""
    return await _read(conn, account_id)


async def routes_of_subscription(conn: AsyncConnection, subscription_id: str) -> dict[str, list[Route]]:
    """The subscription's route in each account it delivers for (replay); empty when it is disabled or
    gone."""
    out: dict[str, list[Route]] = {}
    for r in await _read(conn, None, subscriptions.c.id == subscription_id):
        out.setdefault(r.account_id, []).append(r)
    return out


async def drain_conversations(
    conn: AsyncConnection, routes: Iterable[Route], keys: Iterable[str | None]
) -> set[tuple[str, str | None]]:
    """(installation, conversation) pairs among `keys` that are drain conversations of a RECOVERED
    installation of the routes; only asked when there is such an installation (rare)."""
    recovered = recovered_installations(routes)
    wanted = {k for k in keys if k is not None}
    if not recovered or not wanted:
        return set()
    d = ttl_drain_conversations.c
    rows = await conn.execute(
        select(d.installation_id, d.ordering_key).where(
            d.installation_id.in_(recovered), d.ordering_key.in_(wanted)
        )
    )
    return {(r[0], r[1]) for r in rows}
