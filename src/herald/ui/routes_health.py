"""Endpoint health (state as the health API computes it, success and latency charts), enabling and disabling
an endpoint, its rate limits, the account's operational events, and LivePerson installation transitions.
Every page and form calls the same authorization and store functions as the API route it mirrors."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from herald.api.errors import ApiError
from herald.api.routers import subscriptions as subscription_api
from herald.api.routers.endpoint_health import endpoint_state
from herald.api.schemas import ACCOUNT_PATTERN, ID_PATTERN
from herald.domain.scopes import CONFIGURATION_RW, DELIVERIES_READ, STATE_RO, STATE_RW
from herald.store import endpoint_health as health_store
from herald.store import operational as operational_store
from herald.store import subscriptions as subscription_store
from herald.store import ttl as ttl_store
from herald.store import ui as ui_store
from herald.store.subscriptions import Owner
from herald.ui.charts import Series, line_chart
from herald.ui.routes_config import subscription_page
from herald.ui.web import PREFIX, Ctx, CurrentUser, User, checked_form, first, redirect, render

router = APIRouter()

AccountId = Annotated[str, Path(pattern=ACCOUNT_PATTERN)]
ObjectId = Annotated[str, Path(pattern=ID_PATTERN)]
Cursor = Annotated[str | None, Query(max_length=512)]

PAGE_SIZE = 50
WINDOWS = {"10m": 600, "1h": 3600, "6h": 6 * 3600, "24h": 86_400, "7d": 7 * 86_400}
BUCKETS = 24
LIMIT_FIELDS = ("rate_limit", "rate_limit_burst", "max_concurrency")
SUMMARY_CHARS = 240


async def _health_reader(user: User, account_id: str) -> None:
    """Who may read endpoint health: the health API's scopes, plus the delivery log's reader."""
    await user.principal.require_account(account_id)
    user.principal.require(DELIVERIES_READ)
    user.principal.require_any(STATE_RO, CONFIGURATION_RW)


def _charts(stats: dict[str, Any]) -> dict[str, str]:
    buckets = stats["buckets"]
    starts = [b["start"] for b in buckets]
    rate = [None if b["success_rate"] is None else 100 * b["success_rate"] for b in buckets]
    return {
        "success": line_chart("Success rate", starts, [Series("success %", rate, "s-ok")], "%", y_max=100.0),
        "latency": line_chart(
            "Latency percentiles",
            starts,
            [
                Series("p50", [b["p50_ms"] for b in buckets], "s-p50"),
                Series("p95", [b["p95_ms"] for b in buckets], "s-p95"),
                Series("p99", [b["p99_ms"] for b in buckets], "s-p99"),
            ],
            "ms",
        ),
    }


def _flow(sub: dict[str, Any], installs: dict[str, dict[str, Any]]) -> str:
    """Why an enabled endpoint still gets nothing: its application's installation is disabled."""
    install = installs.get(sub["application_id"]) if sub["application_id"] else None
    if install is not None and not install["enabled"]:
        return f"the installation of application {sub['application_id']} is disabled"
    return ""


@router.get("/a/{account_id}/health", include_in_schema=False)
async def health(
    request: Request,
    account_id: AccountId,
    ctx: Ctx,
    user: CurrentUser,
    window: Annotated[str, Query(pattern="^(10m|1h|6h|24h|7d)$")] = "24h",
) -> Response:
    await _health_reader(user, account_id)
    until = time.time()
    since = until - WINDOWS[window]
    installations = await ui_store.account_installations(ctx.db, account_id)
    by_app = {i["application_id"]: i for i in installations}
    subs = await ui_store.subscriptions_by_id(ctx.db, account_id)
    can_toggle = user.principal.has(STATE_RW) or user.principal.has(CONFIGURATION_RW)
    rows = []
    for sub in subs.values():
        # The same statistics as GET …/subscriptions/{id}/health, in 24 slices of the window.
        stats = await health_store.attempt_stats(ctx.db, sub["id"], since, until, WINDOWS[window] / BUCKETS)
        rows.append(
            {
                "sub": sub,
                "health": endpoint_state(sub, ctx.settings, until),
                "why": _flow(sub, by_app),
                "own": sub["application_id"] is None,  # an application's endpoint is its to switch
                "totals": stats["totals"],
                "charts": _charts(stats) if stats["totals"]["attempts"] else None,
            }
        )
    return render(
        request,
        user,
        "health.html",
        account_id=account_id,
        rows=rows,
        installations=installations,
        window=window,
        windows=list(WINDOWS),
        can_toggle=can_toggle,
    )


async def set_enabled(
    request: Request, ctx: Ctx, user: User, account_id: str, subscription_id: str, enabled: bool
) -> Response:
    """POST …/enable or …/disable of the API: the endpoint's waiting deliveries resume (or wait), and
    endpoint.enabled / endpoint.disabled is emitted. Back to the page the form was on."""
    form = await checked_form(request, user)
    await user.principal.require_account(account_id)
    user.principal.require_any(STATE_RW, CONFIGURATION_RW)
    owner = Owner(account_id=account_id)
    await health_store.set_enabled(ctx.db, owner, subscription_id, enabled)
    ctx.subscription_changed(subscription_id)
    if first(form, "back") == "health":
        return redirect(f"{PREFIX}/a/{account_id}/health")
    return redirect(f"{PREFIX}/a/{account_id}/subscriptions/{subscription_id}")


@router.post("/a/{account_id}/subscriptions/{subscription_id}/enable", include_in_schema=False)
async def enable_subscription(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    return await set_enabled(request, ctx, user, account_id, subscription_id, True)


@router.post("/a/{account_id}/subscriptions/{subscription_id}/disable", include_in_schema=False)
async def disable_subscription(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    return await set_enabled(request, ctx, user, account_id, subscription_id, False)


@router.post("/a/{account_id}/subscriptions/{subscription_id}/limits", include_in_schema=False)
async def update_limits(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    """Rate limit, burst and max concurrency, validated like PATCH (an empty field removes the limit)."""
    form = await checked_form(request, user)
    owner = Owner(account_id=account_id)
    await subscription_api.authorize(user.principal, owner)
    current = await subscription_store.get_subscription(ctx.db, owner, subscription_id)
    raw = {name: (first(form, name) or "").strip() or None for name in LIMIT_FIELDS}
    try:
        patch = subscription_api.SubscriptionPatch.model_validate(raw)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        return await subscription_page(
            request, ctx, user, account_id, subscription_id, 422, limit_errors=errors, limits=raw
        )
    if current.get("livechat") is not None:
        raise ApiError(
            409, "a LiveChat webhook cannot be edited (only enabled); unregister it and register it again"
        )
    changes = patch.model_dump(include=set(LIMIT_FIELDS))
    await subscription_store.update_subscription(ctx.db, ctx.box, owner, subscription_id, changes)
    ctx.subscription_changed(subscription_id)
    return redirect(f"{PREFIX}/a/{account_id}/subscriptions/{subscription_id}")


def _summary(data: dict[str, Any]) -> str:
    text = orjson.dumps(data).decode()
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@router.get("/a/{account_id}/operational-events", include_in_schema=False)
async def operational_events(
    request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser, cursor: Cursor = None
) -> Response:
    """Like GET /v1/accounts/{account_id}/operational-events (a dashboard user is never an application)."""
    await user.principal.require_account(account_id)
    user.principal.require_any(STATE_RO, CONFIGURATION_RW, DELIVERIES_READ)
    rows, next_cursor = await operational_store.list_events(
        ctx.db, account_id=account_id, limit=PAGE_SIZE, cursor=cursor
    )
    for row in rows:
        row["summary"] = _summary({k: v for k, v in row["data"].items() if k not in ("account_id",)})
    return render(
        request,
        user,
        "operational_events.html",
        account_id=account_id,
        rows=rows,
        next_cursor=next_cursor,
        first_page=cursor is None,
    )


@router.get("/a/{account_id}/installations/{app_id}/transitions", include_in_schema=False)
async def installation_transitions(
    request: Request,
    account_id: AccountId,
    app_id: ObjectId,
    ctx: Ctx,
    user: CurrentUser,
    cursor: Cursor = None,
) -> Response:
    """The installation's TTL state changes, newest first (ttl.transitions, as the API's route reads them);
    readable by whoever reads the health page that links here."""
    await _health_reader(user, account_id)
    installation = await ui_store.account_installation(ctx.db, account_id, app_id)
    rows, next_cursor = await ttl_store.transitions(ctx.db, installation["id"], PAGE_SIZE, cursor)
    return render(
        request,
        user,
        "transitions.html",
        account_id=account_id,
        installation=installation,
        rows=rows,
        next_cursor=next_cursor,
        first_page=cursor is None,
    )
