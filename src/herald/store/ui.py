"""Read-only queries of the web dashboard that the API has no route for (yet): the accounts the admin can
pick from, an account's LivePerson installations, and the subscriptions that deliver an account's events.
Endpoint health (state and attempt statistics) comes from `herald.store.endpoint_health`, like the API's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union

from herald.store.app_installations import manifest_extra
from herald.store.database import Database
from herald.store.errors import NotFound
from herald.store.jobs import JobOwner
from herald.store.tables import (
    access_tokens,
    applications,
    credentials,
    installations,
    jobs,
    subscriptions,
)

# Never the secret. The health columns are those `herald.api.routers.endpoint_health.endpoint_state` reads.
SUBSCRIPTION_COLUMNS = (
    "id", "name", "url", "profile", "event_types", "enabled", "application_id", "account_id",
    "failing", "disabled_reason", "disabled_at", "consecutive_failures", "first_failure_at",
    "last_failure_at", "last_success_at", "latency_ewma", "slow_since",
)  # fmt: skip


async def known_accounts(db: Database, limit: int = 500) -> list[str]:
    """Account ids that own something: subscriptions, credentials, installations or personal tokens."""
    query = union(
        select(subscriptions.c.account_id.label("a")).where(subscriptions.c.account_id.is_not(None)),
        select(credentials.c.account_id.label("a")),
        select(installations.c.account_id.label("a")),
        select(access_tokens.c.account_id.label("a")).where(access_tokens.c.account_id.is_not(None)),
    ).subquery()
    async with db.read() as conn:
        rows = await conn.execute(select(query.c.a).order_by(query.c.a).limit(limit))
        return [str(r[0]) for r in rows]


async def account_installations(db: Database, account_id: str) -> list[dict[str, Any]]:
    """The applications installed in an account, with the installation's enabled flag and LivePerson state."""
    query = (
        select(
            installations,
            applications.c.name.label("application_name"),
            applications.c.description.label("application_description"),
        )
        .join(applications, applications.c.id == installations.c.application_id)
        .where(installations.c.account_id == account_id)
        .order_by(installations.c.created_at)
    )
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    for row in rows:  # only a LivePerson manifest's installations have a delivery state worth showing
        row["liveperson"] = manifest_extra(row.pop("application_description")) is not None
    return rows


async def subscriptions_by_id(
    db: Database, account_id: str, ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The subscriptions that deliver the account's events: its own, and those of the applications
    installed in it (`ids`: only these). Secrets are never read."""
    s = subscriptions.c
    installed = select(installations.c.application_id).where(installations.c.account_id == account_id)
    query = (
        select(*(subscriptions.c[name] for name in SUBSCRIPTION_COLUMNS))
        .where(((s.account_id == account_id) & s.application_id.is_(None)) | s.application_id.in_(installed))
        .order_by(s.created_at, s.id)
    )
    if ids is not None:
        query = query.where(s.id.in_(ids))
    async with db.read() as conn:
        return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def account_installation(db: Database, account_id: str, app_id: str) -> dict[str, Any]:
    """One application's installation in the account (NotFound when it is not installed there)."""
    for row in await account_installations(db, account_id):
        if row["application_id"] == app_id:
            return row
    raise NotFound(f"application {app_id} is not installed in this account", field="app_id")


async def account_jobs(db: Database, account_id: str, ids: set[str]) -> set[str]:
    """Which of these job ids are jobs the account itself started (a replay delivery may come from a job of
    an application installed in it, which has no page under the account)."""
    query = select(jobs.c.id).where(
        jobs.c.scope == JobOwner(account_id=account_id).scope, jobs.c.id.in_(sorted(ids))
    )
    async with db.read() as conn:
        return {str(r[0]) for r in await conn.execute(query)}
