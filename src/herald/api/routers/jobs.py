"""Recovery: recover a subscription's failed deliveries, replay its events, and follow the background jobs
that do it. Under an account (`/v1/accounts/{account_id}/…`, account-owned subscriptions) or an application
(`/v1/applications/{app_id}/…`, the application's subscriptions in every account it is installed in)."""

# No `from __future__ import annotations`: FastAPI must resolve the closure-local `OwnerDep` at definition.
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.schemas import AccountId, Cursor, EventType, Limit, Model, OutModel, Page, ResourceId
from herald.domain.filters import FilterError, compile_filter
from herald.domain.scopes import DELIVERIES_READ, DELIVERIES_RW
from herald.store import jobs as store
from herald.store import subscriptions as sub_store
from herald.store.jobs import JobKind, JobOwner, JobStatus
from herald.store.subscriptions import Owner

IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Sending the same key again (same owner, same operation) returns the job created the "
        "first time instead of starting another one",
    ),
]


class RecoverIn(Model):
    since: datetime = Field(description="Deliveries created at or after this time")
    until: datetime | None = Field(default=None, description="… and before this time (default: now)")
    include_retrying: bool = Field(
        default=False, description="Also attempt now the deliveries still waiting for an automatic retry"
    )


class ReplayIn(Model):
    since: datetime = Field(description="Events published at or after this time")
    until: datetime | None = Field(default=None, description="… and before this time (default: now)")
    event_types: list[EventType] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only these types (exact, `*` or `prefix.*`), within the subscription's own",
    )
    filter: dict[str, Any] | None = Field(
        default=None,
        description="Only events whose data also matches this filter (the subscription's "
        "own filter always applies)",
    )


class JobOut(OutModel):
    id: str
    kind: JobKind
    status: JobStatus
    account_id: str | None
    application_id: str | None
    subscription_id: str
    params: dict[str, Any]
    total: int | None = Field(description="Rows the job looks at, counted when it starts")
    done: int = Field(description="Rows looked at so far")
    affected: int = Field(description="Deliveries re-queued (recover) or created (replay)")
    error: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _out(row: dict[str, Any]) -> dict[str, Any]:
    params = dict(row["params"])
    for key in ("since", "until"):
        if isinstance(params.get(key), int | float):
            params[key] = datetime.fromtimestamp(params[key], UTC).isoformat()
    return {**row, "params": params}


def _window(since: datetime, until: datetime | None) -> tuple[float, float | None]:
    """Epoch seconds; an omitted `until` stays None in the job (meaning: when the job was created), so the
    same request sent again with its Idempotency-Key compares equal."""
    try:
        start = since.timestamp()
    except (OverflowError, ValueError, OSError):
        raise ApiError(422, "since: out of range", field="since") from None
    try:
        end = until.timestamp() if until is not None else None
    except (OverflowError, ValueError, OSError):
        raise ApiError(422, "until: out of range", field="until") from None
    if (end if end is not None else time.time()) <= start:
        raise ApiError(422, "until: must be later than since", field="until")
    return start, end


async def _authorize(who: Principal, owner: JobOwner, scope: str) -> None:
    """The owner must be the caller's tenant (else 404), then the scope (else 403)."""
    if owner.application_id is not None:
        who.require_application(owner.application_id)
    if owner.account_id is not None:
        await who.require_account(owner.account_id)
    who.require(scope)


async def _subscription(ctx: Any, owner: JobOwner, subscription_id: str) -> dict[str, Any]:
    sub = await sub_store.get_subscription(
        ctx.db, Owner(application_id=owner.application_id, account_id=owner.account_id), subscription_id
    )
    if not sub["enabled"]:
        raise ApiError(
            409, "the subscription is disabled; enable it first", field="subscription_id", enabled=False
        )
    return sub


async def _start(
    ctx: Any,
    response: Response,
    owner: JobOwner,
    kind: JobKind,
    subscription_id: str,
    params: dict[str, Any],
    key: str | None,
) -> dict[str, Any]:
    job, created = await store.create_job(ctx.db, owner, kind, subscription_id, params, key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return _out(job)


def build_router(prefix: str, tag: str, owner_of: Callable[..., JobOwner]) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    OwnerDep = Annotated[JobOwner, Depends(owner_of)]

    @router.post(
        "/subscriptions/{subscription_id}/recover",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=JobOut,
        summary="Recover failed deliveries",
    )
    async def recover(
        subscription_id: ResourceId,
        body: RecoverIn,
        owner: OwnerDep,
        ctx: Context,
        who: CurrentPrincipal,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> object:
        """Queue again every `dead` delivery of the subscription created in [since, until) (one more attempt
        each), and with `include_retrying` attempt the still-retrying ones now. Runs in the background;
        follow the job it returns."""
        await _authorize(who, owner, DELIVERIES_RW)
        since, until = _window(body.since, body.until)
        await _subscription(ctx, owner, subscription_id)
        params = {"since": since, "until": until, "include_retrying": body.include_retrying}
        return await _start(ctx, response, owner, JobKind.RECOVER, subscription_id, params, idempotency_key)

    @router.post(
        "/subscriptions/{subscription_id}/replay",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=JobOut,
        summary="Replay events to a subscription",
    )
    async def replay(
        subscription_id: ResourceId,
        body: ReplayIn,
        owner: OwnerDep,
        ctx: Context,
        who: CurrentPrincipal,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> object:
        """Deliver again, as new deliveries marked `replay_of` this job, the events published in
        [since, until) that the subscription matches (narrowed by `event_types` and `filter`)."""
        await _authorize(who, owner, DELIVERIES_RW)
        since, until = _window(body.since, body.until)
        if body.filter is not None:
            try:
                compile_filter(body.filter)
            except FilterError as exc:
                raise ApiError(422, str(exc), field=exc.path) from None
        await _subscription(ctx, owner, subscription_id)
        params = {"since": since, "until": until, "event_types": body.event_types, "filter": body.filter}
        return await _start(ctx, response, owner, JobKind.REPLAY, subscription_id, params, idempotency_key)

    @router.get("/jobs", response_model=Page[JobOut], summary="List recovery jobs")
    async def list_jobs(
        owner: OwnerDep, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
    ) -> object:
        await _authorize(who, owner, DELIVERIES_READ)
        rows, next_cursor = await store.list_jobs(ctx.db, owner, limit, cursor)
        return {"data": [_out(r) for r in rows], "next_cursor": next_cursor}

    @router.get("/jobs/{job_id}", response_model=JobOut, summary="Get a recovery job and its progress")
    async def get_job(job_id: ResourceId, owner: OwnerDep, ctx: Context, who: CurrentPrincipal) -> object:
        await _authorize(who, owner, DELIVERIES_READ)
        return _out(await store.get_job(ctx.db, owner, job_id))

    return router


def _app_owner(app_id: ResourceId) -> JobOwner:
    return JobOwner(application_id=app_id)


def _account_owner(account_id: AccountId) -> JobOwner:
    return JobOwner(account_id=account_id)


application_router = build_router("/v1/applications/{app_id}", "recovery (application)", _app_owner)
account_router = build_router("/v1/accounts/{account_id}", "recovery (account)", _account_owner)
