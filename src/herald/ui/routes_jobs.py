"""Recovery from the dashboard: "Recover a time range" and "Replay" on a subscription's page, and the jobs
they start (a list, and one job with its progress). Each form starts its job exactly like
POST /v1/accounts/{id}/subscriptions/{id}/recover|replay: the same authorize, window and subscription
checks of the API's jobs router, and the same store call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from herald.api.errors import ApiError
from herald.api.routers import jobs as jobs_api
from herald.api.schemas import ACCOUNT_PATTERN, ID_PATTERN
from herald.domain.scopes import DELIVERIES_READ, DELIVERIES_RW
from herald.store import jobs as job_store
from herald.store import ui as ui_store
from herald.store.jobs import JobKind, JobOwner, JobStatus
from herald.ui import routes_config
from herald.ui.web import (
    FORM_KEY_PREFIX,
    PREFIX,
    Ctx,
    CurrentUser,
    User,
    checked_form,
    first,
    redirect,
    render,
)

router = APIRouter()

AccountId = Annotated[str, Path(pattern=ACCOUNT_PATTERN)]
ObjectId = Annotated[str, Path(pattern=ID_PATTERN)]

PAGE_SIZE = 50
REFRESH_SECONDS = 2  # the job page reloads itself this often while the job runs (no script needed)


def _when(form: dict[str, list[str]], field: str, required: bool) -> datetime | None:
    """A datetime-local value (read as UTC, as the form says) or an ISO 8601 time with its offset."""
    raw = (first(form, field) or "").strip()
    if not raw:
        if required:
            raise ApiError(422, f"{field}: required", field=field)
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{field}: not a date and time", field=field) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _key(form: dict[str, list[str]]) -> str | None:
    key = first(form, "key")
    if key and key.startswith(FORM_KEY_PREFIX) and len(key) <= 64 and key.isascii() and key.isprintable():
        return key
    return None  # no (usable) key: the job is simply started, as the API does without the header


async def _start(
    request: Request, ctx: Ctx, user: User, account_id: str, subscription_id: str, kind: JobKind
) -> Response:
    form = await checked_form(request, user)
    owner = JobOwner(account_id=account_id)
    await jobs_api._authorize(user.principal, owner, DELIVERIES_RW)
    try:
        # First the subscription (another tenant's answers 404 before anything about the form).
        sub = await jobs_api._subscription(ctx, owner, subscription_id)
        if kind is JobKind.RECOVER:
            recover = jobs_api.RecoverIn(
                since=_when(form, "since", True),
                until=_when(form, "until", False),
                include_retrying=first(form, "include_retrying") == "on",
            )
            since, until = jobs_api._window(recover.since, recover.until)
            params: dict[str, Any] = {
                "since": since,
                "until": until,
                "include_retrying": recover.include_retrying,
            }
        else:
            chosen = form.get("event_types") or None
            unknown = [t for t in chosen or [] if t not in sub["event_types"]]
            if unknown:
                raise ApiError(422, f"event_types: not the subscription's: {', '.join(unknown)}")
            replay = jobs_api.ReplayIn(
                since=_when(form, "since", True), until=_when(form, "until", False), event_types=chosen
            )
            since, until = jobs_api._window(replay.since, replay.until)
            params = {"since": since, "until": until, "event_types": replay.event_types, "filter": None}
    except ValidationError as exc:
        errors = routes_config._errors_of(exc)
        return await routes_config.subscription_page(
            request, ctx, user, account_id, subscription_id, 422, errors=errors
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        return await routes_config.subscription_page(
            request, ctx, user, account_id, subscription_id, exc.status, errors=[exc.message]
        )
    job, _ = await job_store.create_job(ctx.db, owner, kind, subscription_id, params, _key(form))
    return redirect(f"{PREFIX}/a/{account_id}/jobs/{job['id']}")


@router.post("/a/{account_id}/subscriptions/{subscription_id}/recover", include_in_schema=False)
async def recover(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    """Recover a time range: queue again the subscription's dead deliveries created in [since, until)."""
    return await _start(request, ctx, user, account_id, subscription_id, JobKind.RECOVER)


@router.post("/a/{account_id}/subscriptions/{subscription_id}/replay", include_in_schema=False)
async def replay(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    """Replay the events published in [since, until) to the subscription as new, marked deliveries."""
    return await _start(request, ctx, user, account_id, subscription_id, JobKind.REPLAY)


@router.get("/a/{account_id}/jobs", include_in_schema=False)
async def jobs(
    request: Request,
    account_id: AccountId,
    ctx: Ctx,
    user: CurrentUser,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    owner = JobOwner(account_id=account_id)
    await jobs_api._authorize(user.principal, owner, DELIVERIES_READ)
    rows, next_cursor = await job_store.list_jobs(ctx.db, owner, PAGE_SIZE, cursor)
    return render(
        request,
        user,
        "jobs.html",
        account_id=account_id,
        jobs=rows,
        next_cursor=next_cursor,
        subscriptions=await ui_store.subscriptions_by_id(ctx.db, account_id),
        running=any(r["status"] in (JobStatus.QUEUED, JobStatus.RUNNING) for r in rows),
        refresh=REFRESH_SECONDS,
    )


@router.get("/a/{account_id}/jobs/{job_id}", include_in_schema=False)
async def job_detail(
    request: Request, account_id: AccountId, job_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    owner = JobOwner(account_id=account_id)
    await jobs_api._authorize(user.principal, owner, DELIVERIES_READ)
    job = await job_store.get_job(ctx.db, owner, job_id)
    subs = await ui_store.subscriptions_by_id(ctx.db, account_id, [job["subscription_id"]])
    return render(
        request,
        user,
        "job.html",
        account_id=account_id,
        job=job,
        sub=subs.get(job["subscription_id"]),
        running=job["status"] in (JobStatus.QUEUED, JobStatus.RUNNING),
        refresh=REFRESH_SECONDS,
    )
