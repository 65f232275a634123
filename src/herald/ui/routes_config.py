"""Configuration pages: accounts (admin), applications and installations (admin), an account's subscriptions
(with the Data Transporter form) and credentials. Every page checks the caller exactly like the API routes
it mirrors, by calling the same authorize functions and store calls."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from herald.api.errors import ApiError
from herald.api.routers import credentials as credential_api
from herald.api.routers import subscriptions as subscription_api
from herald.api.routers.endpoint_health import endpoint_state
from herald.api.schemas import ACCOUNT_PATTERN, ID_PATTERN
from herald.domain.catalog import CATALOG
from herald.domain.credentials import Scheme
from herald.domain.scopes import CONFIGURATION_RW, DELIVERIES_RW, STATE_RW
from herald.store import applications as application_store
from herald.store import credentials as credential_store
from herald.store import endpoint_health as health_store
from herald.store import subscriptions as subscription_store
from herald.store import ui as ui_store
from herald.store.app_installations import manifest_extra
from herald.store.subscriptions import Owner
from herald.ui.web import (
    PREFIX,
    Ctx,
    CurrentUser,
    User,
    checked_form,
    first,
    new_form_key,
    redirect,
    render,
)

router = APIRouter()

AccountId = Annotated[str, Path(pattern=ACCOUNT_PATTERN)]
ObjectId = Annotated[str, Path(pattern=ID_PATTERN)]

DATA_TRANSPORTER_PROFILE = "liveperson-data"
DATA_TRANSPORTER_EVENTS = [name for name, spec in CATALOG.items() if spec.family == "liveperson-data"]
SCHEMES = [s.value for s in Scheme]


def _errors_of(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"])
        out.append(f"{where}: {e['msg']}" if where else str(e["msg"]))
    return out


# ------------------------------------------------------------------------------------- admin pages


@router.get("/accounts", include_in_schema=False)
async def accounts(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    go: Annotated[str | None, Query(pattern=ACCOUNT_PATTERN)] = None,
) -> Response:
    """The admin picks an account to look into; an account token only has its own."""
    if user.account_id is not None:
        return redirect(f"{PREFIX}/a/{user.account_id}/subscriptions")
    if go:
        return redirect(f"{PREFIX}/a/{go}/subscriptions")
    return render(request, user, "accounts.html", accounts=await ui_store.known_accounts(ctx.db))


@router.get("/applications", include_in_schema=False)
async def applications(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    """Applications and their installations (with LivePerson state): the admin's view, like the API, where
    account tokens see no application."""
    if not user.is_admin:
        raise ApiError(404, "There is no such page.")
    apps, _ = await application_store.list_applications(ctx.db, 250, None)
    rows = []
    for app in apps:
        installs, _ = await application_store.list_installations(ctx.db, app["id"], 250, None)
        extra = manifest_extra(app["description"])
        # A manifest's application keeps its fields as JSON in `description`: show what it means instead.
        description = app["description"] if extra is None else extra.get("description")
        rows.append(
            {**app, "description": description, "liveperson": extra is not None, "installations": installs}
        )
    return render(request, user, "applications.html", applications=rows)


# ---------------------------------------------------------------------------------- subscriptions


async def _credentials(ctx: Ctx, account_id: str) -> list[dict[str, Any]]:
    rows, _ = await credential_store.list_credentials(ctx.db, ctx.box, account_id, 250, None)
    return rows


@router.get("/a/{account_id}", include_in_schema=False)
async def account_home(account_id: AccountId, user: CurrentUser) -> Response:
    await user.principal.require_account(account_id)
    return redirect(f"{PREFIX}/a/{account_id}/subscriptions")


@router.get("/a/{account_id}/subscriptions", include_in_schema=False)
async def subscriptions(request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser) -> Response:
    owner = Owner(account_id=account_id)
    await subscription_api.authorize(user.principal, owner)
    rows, _ = await subscription_store.list_subscriptions(ctx.db, owner, 250, None)
    rows = [r for r in rows if user.sees_subscription(r["id"])]  # a portal session's subscriptions
    # The applications' subscriptions fire for this account too (as Health and Deliveries show them).
    delivering = await ui_store.subscriptions_by_id(ctx.db, account_id)
    return render(
        request,
        user,
        "subscriptions.html",
        account_id=account_id,
        subscriptions=await subscription_api._with_mtls(ctx, owner, *rows, many=True) if rows else [],
        application_subscriptions=[
            s
            for s in delivering.values()
            if s["application_id"] is not None and user.sees_subscription(s["id"])
        ],
    )


async def _new_form(
    request: Request, ctx: Ctx, user: CurrentUser, account_id: str, status: int = 200, **values: Any
) -> Response:
    return render(
        request,
        user,
        "subscription_new.html",
        status=status,
        account_id=account_id,
        credentials=await _credentials(ctx, account_id),
        event_types=DATA_TRANSPORTER_EVENTS,
        gateway=bool(ctx.settings.mtls_gateway_url),
        form=values.pop("form", {"event_types": []}),
        **values,
    )


@router.get("/a/{account_id}/subscriptions/new", include_in_schema=False)
async def new_subscription(request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser) -> Response:
    await subscription_api.authorize(user.principal, Owner(account_id=account_id))
    return await _new_form(request, ctx, user, account_id)


@router.post("/a/{account_id}/subscriptions", include_in_schema=False)
async def create_subscription(
    request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser
) -> Response:
    """The Data Transporter form: the same checks as POST /v1/accounts/{id}/subscriptions, profile
    liveperson-data; problems re-render the form with what was typed."""
    form = await checked_form(request, user)
    owner = Owner(account_id=account_id)
    await subscription_api.authorize(user.principal, owner)
    typed = {
        "name": (first(form, "name") or "").strip() or None,
        "url": (first(form, "url") or "").strip(),
        "event_types": form.get("event_types", []),
        "credential_id": first(form, "credential_id") or None,
        "mtls_via_gateway": first(form, "mtls") == "on",
    }
    try:
        body = subscription_api.SubscriptionIn(**typed, profile=DATA_TRANSPORTER_PROFILE)
        subscription_api._guard_url(ctx, body.url)
        unknown = [t for t in body.event_types if t not in DATA_TRANSPORTER_EVENTS]
        if unknown:
            raise ApiError(422, f"event_types: not Data Transporter events: {', '.join(unknown)}")
        if body.mtls_via_gateway and not ctx.settings.mtls_gateway_url:
            # The API accepts it (the gateway may be configured later); the form says so up front.
            raise ApiError(
                422,
                "mTLS: this Herald has no mTLS gateway (HERALD_MTLS_GATEWAY_URL). A certificate mapped to "
                "the URL (mTLS mappings) is presented directly without ticking this.",
            )
        await subscription_api._check_credential(ctx, owner, body.profile, body.credential_id)
    except ValidationError as exc:
        return await _new_form(request, ctx, user, account_id, 422, form=typed, errors=_errors_of(exc))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return await _new_form(request, ctx, user, account_id, 422, form=typed, errors=[exc.message])
    created = await subscription_store.create_subscription(ctx.db, ctx.box, owner, body.model_dump())
    return redirect(f"{PREFIX}/a/{account_id}/subscriptions/{created['id']}")


async def subscription_page(
    request: Request,
    ctx: Ctx,
    user: User,
    account_id: str,
    subscription_id: str,
    status: int = 200,
    **values: Any,
) -> Response:
    """The subscription's page (also re-rendered with `errors` by the recover and replay forms)."""
    owner = Owner(account_id=account_id)
    await subscription_api.authorize(user.principal, owner)
    sub = await subscription_api._with_mtls(
        ctx, owner, await subscription_store.get_subscription(ctx.db, owner, subscription_id)
    )
    health = endpoint_state(sub, ctx.settings, time.time())
    credential = None
    if sub["credential_id"]:
        credential = await credential_store.get_credential(ctx.db, ctx.box, account_id, sub["credential_id"])
    return render(
        request,
        user,
        "subscription.html",
        status=status,
        account_id=account_id,
        sub=sub,
        credential=credential,
        health=health,
        can_toggle=user.principal.has(STATE_RW) or user.principal.has(CONFIGURATION_RW),
        can_recover=user.principal.has(DELIVERIES_RW),
        form_key=new_form_key(),
        since_default=(datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"),
        **values,
    )


@router.get("/a/{account_id}/subscriptions/{subscription_id}", include_in_schema=False)
async def subscription_detail(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    return await subscription_page(request, ctx, user, account_id, subscription_id)


@router.post("/a/{account_id}/subscriptions/{subscription_id}/toggle", include_in_schema=False)
async def toggle_subscription(
    request: Request, account_id: AccountId, subscription_id: ObjectId, ctx: Ctx, user: CurrentUser
) -> Response:
    """Enable or disable, like PATCH {"enabled": …} (which is POST …/enable or …/disable: the endpoint's
    waiting deliveries resume, an operational event is emitted); the in-process dispatcher drops its copy."""
    form = await checked_form(request, user)
    owner = Owner(account_id=account_id)
    await subscription_api.authorize(user.principal, owner)
    enabled = first(form, "enabled") == "true"
    await health_store.set_enabled(ctx.db, owner, subscription_id, enabled)
    ctx.subscription_changed(subscription_id)
    return redirect(f"{PREFIX}/a/{account_id}/subscriptions/{subscription_id}")


# ------------------------------------------------------------------------------------ credentials


async def _credentials_page(
    request: Request, ctx: Ctx, user: CurrentUser, account_id: str, status: int = 200, **values: Any
) -> Response:
    return render(
        request,
        user,
        "credentials.html",
        status=status,
        account_id=account_id,
        credentials=await _credentials(ctx, account_id),
        schemes=SCHEMES,
        **values,
    )


@router.get("/a/{account_id}/credentials", include_in_schema=False)
async def credentials(request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser) -> Response:
    await credential_api.authorize(user.principal, account_id)
    return await _credentials_page(request, ctx, user, account_id)


@router.post("/a/{account_id}/credentials", include_in_schema=False)
async def generate_credential(
    request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser
) -> Response:
    """ "Generate key": Herald makes the secret and shows it in this answer only (never again)."""
    form = await checked_form(request, user)
    await credential_api.authorize(user.principal, account_id)
    try:
        body = credential_api.CredentialIn(
            name=(first(form, "name") or "").strip(), scheme=first(form, "scheme") or Scheme.LP_SIGNATURE
        )
        body.check()
    except ValidationError as exc:
        return await _credentials_page(request, ctx, user, account_id, 422, errors=_errors_of(exc))
    created = await credential_store.create_credential(
        ctx.db, ctx.box, account_id, body.name, body.scheme, body.config(), None
    )
    return await _credentials_page(request, ctx, user, account_id, created=created)
