"""Background jobs: create (idempotently), read, and claim under a lease.

A job row is claimed like a queue row: `lease` is a claim token bumped on every claim and `lease_until` is
the lease's expiry (the due time while the job is queued). Each batch of work renews the lease in the same
transaction that saves the batch's effects and progress, and only if the token is still the one claimed
(`own`), so a worker that lost its lease can never apply a batch twice; a job whose worker died becomes due
again when the lease runs out and another process resumes it from the saved cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from herald.ids import new_id
from herald.store.database import Database
from herald.store.errors import Conflict, NotFound
from herald.store.pagination import page, split_page
from herald.store.tables import jobs

# A failed run is retried this many times (after RETRY_DELAY seconds) before the job is marked failed.
MAX_TRIES = 3
RETRY_DELAY = 5.0


class JobKind(StrEnum):
    RECOVER = "recover"
    REPLAY = "replay"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobOwner:
    """Exactly one of the two is set, like a subscription's owner."""

    account_id: str | None = None
    application_id: str | None = None

    @property
    def scope(self) -> str:
        if self.application_id is not None:
            return f"application:{self.application_id}"
        return f"account:{self.account_id}"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: str
    kind: JobKind
    account_id: str | None
    application_id: str | None
    subscription_id: str
    params: dict[str, Any]
    total: int | None
    cursor: list[Any] | None
    lease: int
    tries: int
    created_at: float

    @property
    def window(self) -> tuple[float, float]:
        """[since, until): `until` omitted in the request means the moment the job was created, so the
        window is fixed (and a resumed job walks the same rows) while idempotent retries of the same
        request still compare equal."""
        until = self.params.get("until")
        return float(self.params["since"]), float(until if until is not None else self.created_at)


class LeaseLost(Exception):
    """Another process holds the job now; this one must drop it."""


async def create_job(
    db: Database,
    owner: JobOwner,
    kind: JobKind,
    subscription_id: str,
    params: dict[str, Any],
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Queue a job; returns (job, created). With an idempotency key already used in this owner's scope the
    existing job comes back (created False) if it was for the same operation, else Conflict."""
    scope = owner.scope
    if idempotency_key is not None:
        existing = await _by_key(db, scope, idempotency_key)
        if existing is not None:
            return _same_or_conflict(existing, kind, subscription_id, params), False
    now = time.time()
    row = {
        "id": new_id("job"),
        "kind": kind.value,
        "account_id": owner.account_id,
        "application_id": owner.application_id,
        "scope": scope,
        "subscription_id": subscription_id,
        "params": params,
        "status": JobStatus.QUEUED.value,
        "total": None,
        "done": 0,
        "affected": 0,
        "cursor": None,
        "error": None,
        "tries": 0,
        "idempotency_key": idempotency_key,
        "lease": 0,
        "lease_until": now,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
    }
    try:
        async with db.write() as conn:
            await conn.execute(insert(jobs), row)
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        if idempotency_key is None:
            raise
        existing = await _by_key(db, scope, idempotency_key)
        if existing is None:
            raise
        return _same_or_conflict(existing, kind, subscription_id, params), False
    return row, True


def _same_or_conflict(
    existing: dict[str, Any], kind: JobKind, subscription_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    if (existing["kind"], existing["subscription_id"], existing["params"]) != (
        kind.value,
        subscription_id,
        params,
    ):
        raise Conflict(
            "this Idempotency-Key was already used for a different operation",
            field="Idempotency-Key",
            job_id=existing["id"],
        )
    return existing


async def _by_key(db: Database, scope: str, key: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(select(jobs).where(jobs.c.scope == scope, jobs.c.idempotency_key == key)))
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


async def get_job(db: Database, owner: JobOwner, job_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        row = (
            (await conn.execute(select(jobs).where(jobs.c.scope == owner.scope, jobs.c.id == job_id)))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"job {job_id} not found", field="job_id")
    return dict(row)


async def list_jobs(
    db: Database, owner: JobOwner, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = page(select(jobs).where(jobs.c.scope == owner.scope), jobs.c.created_at, jobs.c.id, limit, cursor)
    async with db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return split_page(rows, limit)


async def claim(db: Database, lease_seconds: float) -> ClaimedJob | None:
    """Take the oldest due job (queued, or running with an expired lease) under a new lease."""
    now = time.time()
    async with db.write() as conn:
        row = (
            (
                await conn.execute(
                    select(jobs)
                    .where(
                        jobs.c.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)),
                        jobs.c.lease_until <= now,
                    )
                    .order_by(jobs.c.lease_until)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        token = row["lease"] + 1
        await conn.execute(
            update(jobs)
            .where(jobs.c.id == row["id"])
            .values(
                status=JobStatus.RUNNING.value,
                lease=token,
                lease_until=now + lease_seconds,
                started_at=row["started_at"] or now,
                updated_at=now,
            )
        )
    return ClaimedJob(
        id=row["id"],
        kind=JobKind(row["kind"]),
        account_id=row["account_id"],
        application_id=row["application_id"],
        subscription_id=row["subscription_id"],
        params=row["params"],
        total=row["total"],
        cursor=row["cursor"],
        lease=token,
        tries=row["tries"],
        created_at=row["created_at"],
    )


async def own(conn: AsyncConnection, job: ClaimedJob, lease_seconds: float) -> None:
    """First statement of every batch: renew the lease if it is still ours (on PostgreSQL this also locks
    the job row for the batch's transaction), else LeaseLost and the caller's transaction rolls back."""
    now = time.time()
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id, jobs.c.lease == job.lease, jobs.c.status == JobStatus.RUNNING.value)
        .values(lease_until=now + lease_seconds, updated_at=now)
    )
    if result.rowcount != 1:
        raise LeaseLost(job.id)


async def save_progress(
    conn: AsyncConnection,
    job: ClaimedJob,
    *,
    looked_at: int,
    affected: int,
    cursor: list[Any] | None,
    finished: bool,
) -> None:
    """Record a batch in the caller's transaction (after `own`)."""
    now = time.time()
    values: dict[str, Any] = {
        "done": jobs.c.done + looked_at,
        "affected": jobs.c.affected + affected,
        "cursor": cursor,
        "updated_at": now,
    }
    if finished:
        # `total` was counted when the job started; rows can change state meanwhile (a manual resend, a
        # delivery dying), so the finished job reports what it actually looked at.
        values.update(total=values["done"], status=JobStatus.SUCCEEDED.value, finished_at=now, error=None)
    await conn.execute(update(jobs).where(jobs.c.id == job.id).values(**values))


async def set_total(conn: AsyncConnection, job: ClaimedJob, total: int) -> None:
    await conn.execute(update(jobs).where(jobs.c.id == job.id).values(total=total))


async def fail(db: Database, job: ClaimedJob, error: str) -> bool:
    """A run failed: retry it later, or mark the job failed after MAX_TRIES. True when it is failed."""
    now = time.time()
    final = job.tries + 1 >= MAX_TRIES
    values: dict[str, Any] = {"tries": job.tries + 1, "error": error[:2000], "updated_at": now}
    if final:
        values.update(status=JobStatus.FAILED.value, finished_at=now)
    else:
        values.update(lease_until=now + RETRY_DELAY)
    async with db.write() as conn:
        await conn.execute(
            update(jobs).where(jobs.c.id == job.id, jobs.c.lease == job.lease).values(**values)
        )
    return final
