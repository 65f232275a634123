"""The delivery log (filters, attempts with their requests and responses, resend)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from herald.api.errors import ApiError
from herald.domain.models import ClaimedDelivery, DeliveryStatus, Endpoint
from herald.domain.profiles import PROFILES
from herald.domain.scopes import DELIVERIES_READ, DELIVERIES_RW
from herald.domain.signing import generate_whsec
from herald.store import deliveries as delivery_store
from herald.store import ui as ui_store
from herald.store.deliveries import DeliveryFilter
from herald.ui.web import PREFIX, Ctx, CurrentUser, User, checked_form, new_form_key, redirect, render

router = APIRouter()

AccountId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")]
ObjectId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Filter = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$")]

PAGE_SIZE = 50


async def _reader(user: User, account_id: str) -> None:
    await user.principal.require_account(account_id)
    user.principal.require(DELIVERIES_READ)


def _when(raw: str | None, field: str) -> float | None:
    """A datetime-local value (read as UTC) or an ISO 8601 time → epoch seconds."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{field}: not a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@router.get("/a/{account_id}/deliveries", include_in_schema=False)
async def deliveries(
    request: Request,
    account_id: AccountId,
    ctx: Ctx,
    user: CurrentUser,
    subscription_id: Filter = None,
    event_type: Filter = None,
    event_id: Filter = None,
    status: Filter = None,
    since: Filter = None,
    until: Filter = None,
    is_replay: Annotated[str | None, Query(pattern="^(true|false)?$")] = None,
    replay_of: Filter = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    await _reader(user, account_id)
    if user.subscription_ids is not None and not subscription_id:
        # A portal session limited to some subscriptions sees their deliveries one subscription at a time.
        first_id = min(user.subscription_ids)
        return redirect(f"{PREFIX}/a/{account_id}/deliveries?subscription_id={first_id}")
    if subscription_id:
        user.require_subscription(subscription_id)
    try:
        wanted = DeliveryStatus(status) if status else None
    except ValueError:
        raise ApiError(422, f"status: one of {', '.join(s.value for s in DeliveryStatus)}") from None
    flt = DeliveryFilter(
        subscription_id=subscription_id or None,
        status=wanted,
        event_type=event_type or None,
        event_id=event_id or None,
        since=_when(since, "since"),
        until=_when(until, "until"),
        is_replay={"true": True, "false": False}.get(is_replay or ""),
        replay_of=replay_of or None,
    )
    rows, next_cursor = await delivery_store.list_deliveries(ctx.db, account_id, flt, PAGE_SIZE, cursor)
    every = await ui_store.subscriptions_by_id(ctx.db, account_id)
    subs = {k: v for k, v in every.items() if user.sees_subscription(k)}
    query = {
        "subscription_id": subscription_id or "",
        "event_type": event_type or "",
        "event_id": event_id or "",
        "status": status or "",
        "since": since or "",
        "until": until or "",
        "is_replay": is_replay or "",
        "replay_of": replay_of or "",
    }
    replays = {r["replay_of"] for r in rows if r["replay_of"]} | ({replay_of} if replay_of else set())
    return render(
        request,
        user,
        "deliveries.html",
        account_id=account_id,
        deliveries=rows,
        next_cursor=next_cursor,
        query=query,
        statuses=[s.value for s in DeliveryStatus],
        subscriptions=subs,
        event_types=sorted({t for sub in subs.values() for t in sub["event_types"] if "*" not in t}),
        can_resend=user.principal.has(DELIVERIES_RW),
        replay_jobs=await ui_store.account_jobs(ctx.db, account_id, replays) if replays else set(),
        form_key=new_form_key(),
    )


def sent_body(delivery: dict[str, Any], subscription: dict[str, Any] | None) -> str | None:
    """The body Herald sends for this delivery, rendered again from the stored event by the subscription's
    profile (it is the same bytes every attempt: only headers change). None when that is impossible."""
    event = delivery.get("event")
    if event is None or subscription is None or event.get("expunged_at") is not None:
        return None
    profile = PROFILES.get(subscription["profile"])
    if profile is None:
        return None
    claimed = ClaimedDelivery(
        seq=0,
        delivery_id=delivery["id"],
        account_id=delivery["account_id"],
        subscription_id=delivery["subscription_id"],
        event_id=delivery["event_id"],
        event_type=delivery["event_type"],
        event_timestamp=float(event["timestamp"]),
        event_data=orjson.dumps(event["data"]),
        attempts=0,
        lease=0,
        max_retries=None,
        retention_time=None,
        manual=False,
        created_at=delivery["created_at"],
    )
    # A throw-away secret: only the body is kept, and it does not depend on the secret.
    endpoint = Endpoint(subscription["id"], subscription["url"], profile.name, generate_whsec(), None)
    try:
        return profile.render(claimed, endpoint, int(time.time())).body.decode()
    except Exception:
        return None


@router.get("/a/{account_id}/deliveries/{delivery_id}", include_in_schema=False)
async def delivery_detail(
    request: Request,
    account_id: AccountId,
    delivery_id: ObjectId,
    ctx: Ctx,
    user: CurrentUser,
    resent: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] = None,
) -> Response:
    await _reader(user, account_id)
    delivery = await delivery_store.get_delivery(ctx.db, account_id, delivery_id)
    user.require_subscription(delivery["subscription_id"])
    subs = await ui_store.subscriptions_by_id(ctx.db, account_id, [delivery["subscription_id"]])
    sub = subs.get(delivery["subscription_id"])
    return render(
        request,
        user,
        "delivery.html",
        account_id=account_id,
        d=delivery,
        sub=sub,
        body=sent_body(delivery, sub),
        can_resend=user.principal.has(DELIVERIES_RW),
        resent=resent,
        # The job's page is the account's only when the account started it (not its application).
        replay_job=bool(
            delivery["replay_of"] and await ui_store.account_jobs(ctx.db, account_id, {delivery["replay_of"]})
        ),
    )


@router.post("/a/{account_id}/deliveries/{delivery_id}/resend", include_in_schema=False)
async def resend(
    request: Request, account_id: AccountId, delivery_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    """Resend, exactly like POST /v1/accounts/{id}/deliveries/{id}/resend."""
    await checked_form(request, user)
    await user.principal.require_account(account_id)
    user.principal.require(DELIVERIES_RW)
    if user.subscription_ids is not None:
        found = await delivery_store.get_delivery(ctx.db, account_id, delivery_id)
        user.require_subscription(found["subscription_id"])
    out = await delivery_store.resend(ctx.db, account_id, delivery_id)
    ctx.notify_published()
    # Land on the delivery that makes the attempt, saying what happened (a still-retrying delivery is
    # resent as a new one and keeps its own schedule).
    return redirect(f"{PREFIX}/a/{account_id}/deliveries/{out['id']}?resent={delivery_id}")
