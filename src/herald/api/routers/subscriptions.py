"""Subscriptions, owned by an application (`/v1/applications/{id}/subscriptions`, fires for every account
where it is installed and enabled) or by one account (`/v1/accounts/{id}/subscriptions`)."""

# No `from __future__ import annotations`: FastAPI must resolve the closure-local `OwnerDep` at definition.
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field, field_validator

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.schemas import (
    AccountId,
    Cursor,
    EventType,
    Limit,
    Model,
    OutModel,
    Page,
    ResourceId,
    Text,
    reject_nulls,
)
from herald.api.targets import ALLOW_HINT, guard_target, valid_url
from herald.buses.urls import is_bus_url
from herald.destinations.urls import check_destination_url
from herald.dispatch.egress import named_proxies
from herald.dispatch.guard import literal
from herald.domain.certificates import WEBHOOKS
from herald.domain.filters import FilterError, compile_filter
from herald.domain.profiles import NEEDS_CREDENTIAL, PROFILES
from herald.domain.scopes import CONFIGURATION_RW
from herald.store import applications as app_store
from herald.store import credentials as credential_store
from herald.store import endpoint_health as health_store
from herald.store import mtls as mtls_store
from herald.store import subscriptions as store
from herald.store.errors import NotFound
from herald.store.subscriptions import Owner

ProfileName = Literal["standard", "liveperson-connector", "liveperson-data"]


def check_url(url: str) -> str:
    """Every URL field Herald dials is canonicalised by one validator (herald.api.targets, ADR 0009); a bus
    destination (redis://, nats://, amqp://) by its own rules, whose host follows the same host rules."""
    if is_bus_url(url):
        check_destination_url(url)  # a BusURLError is a ValueError: 422 on `url`
        return url
    return valid_url(url)


ProxyName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class SubscriptionIn(Model):
    url: Annotated[Text, Field(min_length=1, max_length=2048)]
    event_types: list[EventType] = Field(min_length=1, max_length=200)
    name: Text | None = Field(default=None, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    profile: ProfileName = "standard"
    ordered: bool = Field(
        default=False, description="Deliver events with the same ordering_key one at a time"
    )
    max_retries: int | None = Field(default=None, ge=0, le=50)
    retention_time: int | None = Field(
        default=None,
        ge=2,
        le=259_200,
        description="liveperson-connector only: LivePerson time to live, seconds (exponential retries"
        " until the event is this old; wins over max_retries; ordered per ordering_key)."
        " Default: the installation's",
    )
    credential_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="A credential of the same account that authenticates every delivery",
    )
    mtls_via_gateway: bool = Field(
        default=False, description="Deliver through the mTLS forward gateway (HERALD_MTLS_GATEWAY_URL)"
    )
    propagate_trace: bool = Field(
        default=False,
        description="Send each attempt's W3C traceparent header (when tracing is on, docs/tracing.md)",
    )
    egress_proxy: ProxyName | None = Field(
        default=None, description="Deliver through this proxy named in HERALD_EGRESS_PROXIES"
    )
    filter: dict[str, Any] | None = Field(
        default=None,
        description="Payload filter over the event data: {path: value | {$eq $neq $in $nin $gt $gte $lt "
        "$lte $exists $regex: operand}}, $and/$or/$not; only matching events are delivered",
    )
    rate_limit: float | None = Field(
        default=None, gt=0, le=100_000, description="Deliveries per second to this endpoint (per worker)"
    )
    rate_limit_burst: int | None = Field(
        default=None, ge=1, le=100_000, description="Deliveries sent at once before rate_limit paces them"
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=1024, description="Requests in flight to this endpoint at once (per worker)"
    )

    _url = field_validator("url")(check_url)


class SubscriptionPatch(Model):
    url: Annotated[Text | None, Field(default=None, min_length=1, max_length=2048)] = None
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=200)
    name: Text | None = Field(default=None, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    ordered: bool | None = None
    max_retries: int | None = Field(default=None, ge=0, le=50)
    retention_time: int | None = Field(default=None, ge=2, le=259_200)
    enabled: bool | None = None
    credential_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    mtls_via_gateway: bool | None = None
    propagate_trace: bool | None = None
    egress_proxy: ProxyName | None = Field(default=None, description="A named proxy; null: the default")
    filter: dict[str, Any] | None = Field(default=None, description="Payload filter; null removes it")
    rate_limit: float | None = Field(
        default=None, gt=0, le=100_000, description="Deliveries per second (per worker); null removes it"
    )
    rate_limit_burst: int | None = Field(
        default=None, ge=1, le=100_000, description="Deliveries sent at once before rate_limit paces them"
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=1024, description="Requests in flight to this endpoint at once (per worker)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)


class SubscriptionOut(OutModel):
    id: str
    application_id: str | None
    account_id: str | None
    name: str | None
    description: str | None
    url: str
    event_types: list[str]
    profile: str
    ordered: bool
    max_retries: int | None
    retention_time: int | None = None
    enabled: bool
    client_id: str | None = Field(description="LivePerson client id (account-owned connector subscriptions)")
    credential_id: str | None = None
    mtls: bool = Field(default=False, description="An mTLS certificate mapping applies to this URL")
    mtls_via_gateway: bool = False
    propagate_trace: bool = False
    egress_proxy: str | None = None
    filter: dict[str, Any] | None = None
    disabled_reason: str | None = Field(
        default=None, description="Why it is disabled: `manual: …`, `gone: …`, `slow: …` or `failing: …`"
    )
    disabled_at: datetime | None = None
    rate_limit: float | None = None
    rate_limit_burst: int | None = None
    max_concurrency: int | None = None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str | None = Field(
        default=None,
        description="Signing secret, shown once: a whsec_ key (standard) or a client secret (connector). "
        "Absent when nothing signs with it: application connector subscriptions sign with the "
        "application's client secret, liveperson-data subscriptions with their credential.",
    )


LIVEPERSON_CONNECTOR = "liveperson-connector"


def _check_max_retries(profile: str, max_retries: int | None) -> None:
    limit = PROFILES[profile].max_retries_limit
    if max_retries is not None and max_retries > limit:
        raise ApiError(
            422,
            f"max_retries: must be at most {limit} for profile {profile}",
            field="max_retries",
            limit=limit,
        )


def _check_retention(profile: str, retention_time: int | None) -> None:
    if retention_time is not None and profile != LIVEPERSON_CONNECTOR:
        raise ApiError(
            422,
            f"retention_time: only the {LIVEPERSON_CONNECTOR} profile retries by time to live",
            field="retention_time",
        )


async def _check_credential(ctx: Any, owner: Owner, profile: str, credential_id: str | None) -> None:
    if credential_id is None:
        if profile in NEEDS_CREDENTIAL:
            raise ApiError(422, f"credential_id: profile {profile} needs a credential", field="credential_id")
        return
    if owner.account_id is None:
        raise ApiError(
            422,
            "credential_id: credentials belong to one account; use them on account subscriptions",
            field="credential_id",
        )
    try:
        await credential_store.get_credential(ctx.db, ctx.box, owner.account_id, credential_id)
    except NotFound:
        raise ApiError(
            422, f"credential_id: no credential {credential_id} in this account", field="credential_id"
        ) from None


def _check_filter(spec: dict[str, Any] | None) -> None:
    if spec is None:
        return
    try:
        compile_filter(spec)
    except FilterError as exc:
        raise ApiError(422, str(exc), field=exc.path) from None


def _check_proxy(ctx: Any, name: str | None) -> None:
    """A subscription names one of the operator's proxies (dispatch/egress.py), never an address."""
    known = named_proxies(ctx.settings.egress_proxies)
    if name is not None and name not in known:
        listed = ", ".join(sorted(known)) or "none are configured (HERALD_EGRESS_PROXIES)"
        raise ApiError(422, f"egress_proxy: unknown proxy {name!r}; known: {listed}", field="egress_proxy")


def _guard_url(ctx: Any, url: str | None) -> None:
    if url is not None and is_bus_url(url):
        # A bus host: an address literal the guard refuses is refused now, names when they are resolved.
        host = check_destination_url(url).host
        if (ip := literal(host)) is not None and (reason := ctx.guard.refusal(ip)) is not None:
            raise ApiError(422, f"url: the address {ip} is not allowed ({reason}); {ALLOW_HINT}", field="url")
        return
    guard_target(ctx, url, "url")


async def _with_mtls(ctx: Any, owner: Owner, *rows: dict[str, Any], many: bool = False) -> Any:
    """Add `mtls`: whether a certificate mapping applies to the subscription's URL (for an application's
    subscription: in any account)."""
    mapped = await mtls_store.mapped_urls(ctx.db, WEBHOOKS, owner.account_id, (r["url"] for r in rows))
    out = [{**r, "mtls": r["url"] in mapped} for r in rows]
    return out if many else out[0]


async def authorize(who: Principal, owner: Owner) -> None:
    """The owner must be the caller's tenant (else 404); managing webhooks needs the configuration scope."""
    if owner.application_id is not None:
        who.require_application(owner.application_id)
    if owner.account_id is not None:
        await who.require_account(owner.account_id)
    who.require(CONFIGURATION_RW)


def build_router(prefix: str, tag: str, owner_of: Callable[..., Owner], check_owner: bool) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    OwnerDep = Annotated[Owner, Depends(owner_of)]

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreatedOut)
    async def create_subscription(
        body: SubscriptionIn, owner: OwnerDep, ctx: Context, who: CurrentPrincipal
    ) -> object:
        await authorize(who, owner)
        _guard_url(ctx, body.url)
        _check_proxy(ctx, body.egress_proxy)
        _check_max_retries(body.profile, body.max_retries)
        _check_retention(body.profile, body.retention_time)
        _check_filter(body.filter)
        await _check_credential(ctx, owner, body.profile, body.credential_id)
        if check_owner and owner.application_id:
            await app_store.get_application(ctx.db, owner.application_id)
        return await _with_mtls(
            ctx, owner, await store.create_subscription(ctx.db, ctx.box, owner, body.model_dump())
        )

    @router.get("", response_model=Page[SubscriptionOut])
    async def list_subscriptions(
        owner: OwnerDep, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
    ) -> object:
        await authorize(who, owner)
        rows, next_cursor = await store.list_subscriptions(ctx.db, owner, limit, cursor)
        return {"data": await _with_mtls(ctx, owner, *rows, many=True), "next_cursor": next_cursor}

    @router.get("/{subscription_id}", response_model=SubscriptionOut)
    async def get_subscription(
        subscription_id: ResourceId, owner: OwnerDep, ctx: Context, who: CurrentPrincipal
    ) -> object:
        await authorize(who, owner)
        return await _with_mtls(ctx, owner, await store.get_subscription(ctx.db, owner, subscription_id))

    @router.patch("/{subscription_id}", response_model=SubscriptionOut)
    async def update_subscription(
        subscription_id: ResourceId,
        body: SubscriptionPatch,
        owner: OwnerDep,
        ctx: Context,
        who: CurrentPrincipal,
    ) -> object:
        await authorize(who, owner)
        _guard_url(ctx, body.url)
        _check_proxy(ctx, body.egress_proxy)
        changes = body.model_dump(exclude_unset=True)
        reject_nulls(
            changes, "url", "event_types", "ordered", "enabled", "mtls_via_gateway", "propagate_trace"
        )
        current = await store.get_subscription(ctx.db, owner, subscription_id)
        if current.get("livechat") is not None and set(changes) - {"enabled"}:
            # As in LiveChat: a registered webhook is not edited but unregistered and registered again.
            raise ApiError(
                409, "a LiveChat webhook cannot be edited (only enabled); unregister it and register it again"
            )
        _check_max_retries(current["profile"], changes.get("max_retries"))
        _check_retention(current["profile"], changes.get("retention_time"))
        _check_filter(changes.get("filter"))
        if "credential_id" in changes:
            await _check_credential(ctx, owner, current["profile"], changes["credential_id"])
        enabled = changes.pop("enabled", None)
        out = await store.update_subscription(ctx.db, ctx.box, owner, subscription_id, changes)
        if enabled is not None:  # the same as POST …/enable or …/disable (reason, operational event)
            out = await health_store.set_enabled(ctx.db, owner, subscription_id, enabled)
        ctx.subscription_changed(subscription_id)
        return await _with_mtls(ctx, owner, out)

    @router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_subscription(
        subscription_id: ResourceId, owner: OwnerDep, ctx: Context, who: CurrentPrincipal
    ) -> Response:
        await authorize(who, owner)
        await store.delete_subscription(ctx.db, owner, subscription_id)
        ctx.subscription_changed(subscription_id)
        return Response(status_code=204)

    return router


def _app_owner(app_id: ResourceId) -> Owner:
    return Owner(application_id=app_id)


def _account_owner(account_id: AccountId) -> Owner:
    return Owner(account_id=account_id)


application_router = build_router(
    "/v1/applications/{app_id}/subscriptions", "application subscriptions", _app_owner, check_owner=True
)
account_router = build_router(
    "/v1/accounts/{account_id}/subscriptions", "account subscriptions", _account_owner, check_owner=False
)
