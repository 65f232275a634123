"""Read-only queries of the web dashboard that the API has no route for (yet): the accounts the admin can
pick from, an account's LivePerson installations, and endpoint health computed from the attempts table.

Kept apart from the API's repositories on purpose, so the dashboard can switch to a shared health query
later without touching anything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, union

from herald.domain.profiles import PROFILES
from herald.store.database import Database
from herald.store.jobs import JobOwner
from herald.store.tables import (
    access_tokens,
    applications,
    attempts,
    credentials,
    deliveries,
    installations,
    jobs,
    subscriptions,
)

MAX_HEALTH_ROWS = 100_000  # attempts read per health page at most (the newest ones)


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
        select(installations, applications.c.name.label("application_name"))
        .join(applications, applications.c.id == installations.c.application_id)
        .where(installations.c.account_id == account_id)
        .order_by(installations.c.created_at)
    )
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


@dataclass
class Bucket:
    start: float
    total: int = 0
    ok: int = 0
    durations: list[float] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.total if self.total else None

    def percentile(self, p: float) -> float | None:
        return percentile(sorted(self.durations), p)


@dataclass
class EndpointHealth:
    subscription_id: str
    buckets: list[Bucket]

    @property
    def total(self) -> int:
        return sum(b.total for b in self.buckets)

    @property
    def ok(self) -> int:
        return sum(b.ok for b in self.buckets)

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.total if self.total else None

    def percentile(self, p: float) -> float | None:
        return percentile(sorted(d for b in self.buckets for d in b.durations), p)


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values (p in 0..100); None when there are none."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


async def endpoint_health(
    db: Database, account_id: str, since: float, until: float, buckets: int
) -> dict[str, EndpointHealth]:
    """Attempts of the account's deliveries between `since` and `until`, per subscription, in `buckets`
    equal time slices: how many, how many succeeded (by the subscription's profile), and their durations."""
    width = (until - since) / buckets
    a, d = attempts.c, deliveries.c
    query = (
        select(d.subscription_id, subscriptions.c.profile, a.attempted_at, a.duration_ms, a.status_code)
        .select_from(attempts.join(deliveries, d.id == a.delivery_id))
        .outerjoin(subscriptions, subscriptions.c.id == d.subscription_id)
        .where(a.account_id == account_id, a.attempted_at >= since, a.attempted_at < until)
        .order_by(a.attempted_at.desc())
        .limit(MAX_HEALTH_ROWS)
    )
    out: dict[str, EndpointHealth] = {}
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    for sub_id, profile_name, at, duration, status in rows:
        health = out.get(sub_id)
        if health is None:
            health = out[sub_id] = EndpointHealth(sub_id, [Bucket(since + i * width) for i in range(buckets)])
        bucket = health.buckets[min(buckets - 1, int((at - since) / width))]
        bucket.total += 1
        profile = PROFILES.get(profile_name or "standard", PROFILES["standard"])
        if status is not None and profile.is_success(int(status)):
            bucket.ok += 1
        bucket.durations.append(float(duration))
    return out


async def subscriptions_by_id(
    db: Database, account_id: str, ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The subscriptions that deliver the account's events: its own, and those of the applications
    installed in it (`ids`: only these). Secrets are never read."""
    s = subscriptions.c
    installed = select(installations.c.application_id).where(installations.c.account_id == account_id)
    query = (
        select(s.id, s.name, s.url, s.profile, s.event_types, s.enabled, s.application_id, s.account_id)
        .where(((s.account_id == account_id) & s.application_id.is_(None)) | s.application_id.in_(installed))
        .order_by(s.created_at, s.id)
    )
    if ids is not None:
        query = query.where(s.id.in_(ids))
    async with db.read() as conn:
        return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def account_jobs(db: Database, account_id: str, ids: set[str]) -> set[str]:
    """Which of these job ids are jobs the account itself started (a replay delivery may come from a job of
    an application installed in it, which has no page under the account)."""
    query = select(jobs.c.id).where(
        jobs.c.scope == JobOwner(account_id=account_id).scope, jobs.c.id.in_(sorted(ids))
    )
    async with db.read() as conn:
        return {str(r[0]) for r in await conn.execute(query)}
