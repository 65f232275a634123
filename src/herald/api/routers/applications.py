"""Applications (clients that own webhooks) and their installations into accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response, status
from pydantic import Field, field_validator

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.routers.subscriptions import check_url
from herald.api.schemas import (
    ACCOUNT_PATTERN,
    Cursor,
    Limit,
    Model,
    OutModel,
    Page,
    ResourceId,
    Text,
    reject_nulls,
)
from herald.api.targets import guard_target
from herald.domain.scopes import CONFIGURATION_RW, STATE_RO, STATE_RW
from herald.store import applications as store
from herald.store import operational

router = APIRouter(prefix="/v1/applications", tags=["applications"])

# Who may do what here: the admin everything; an application's own token its own application, within its
# scopes. Creating or deleting applications, and installing one into an account (which is what lets it
# act on that account), stay with the admin. Account tokens see no application routes (404).


def _check_bound(who: Principal, installation: dict[str, object]) -> None:
    """A token bound to one account sees only that account's installation."""
    if who.account_id is not None and installation["account_id"] != who.account_id:
        raise ApiError(404, f"installation {installation['id']} not found", field="installation_id")


OPERATIONAL_URL_DOC = (
    "Where Herald sends this application's operational events (endpoint.disabled, message.attempt.* …) "
    "as Standard Webhooks; null stops them"
)


class _ApplicationFields(Model):
    name: Text = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    operational_url: Text | None = Field(
        default=None, min_length=1, max_length=2048, description=OPERATIONAL_URL_DOC
    )

    @field_validator("operational_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)


OWNER_ACCOUNT_DOC = (
    "The account (LiveChat license) whose personal access tokens may register, list and unregister this "
    "application's LiveChat webhooks (ADR 0013); admin only"
)


class ApplicationIn(_ApplicationFields):
    client_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_\-]{8,64}$",
        description="Keep an existing client id (e.g. a LiveChat app's); by default a new one is made",
    )
    owner_account_id: str | None = Field(default=None, pattern=ACCOUNT_PATTERN, description=OWNER_ACCOUNT_DOC)


class ApplicationPatch(_ApplicationFields):
    """The client id is not among the fields: tokens, signatures and LiveChat registrations refer to it."""

    name: Text | None = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    owner_account_id: str | None = Field(default=None, pattern=ACCOUNT_PATTERN, description=OWNER_ACCOUNT_DOC)


class ApplicationOut(OutModel):
    id: str
    name: str
    description: str | None
    client_id: str
    operational_url: str | None = None
    owner_account_id: str | None = None
    created_at: datetime
    updated_at: datetime


class ApplicationUpdatedOut(ApplicationOut):
    operational_secret: str | None = Field(
        default=None,
        description="The whsec_ key operational events are signed with, shown once: when an operational URL "
        "is first set",
    )


class ApplicationCreatedOut(ApplicationUpdatedOut):
    client_secret: str = Field(description="Shown once; LivePerson connector deliveries are signed with it")


class InstallationIn(Model):
    account_id: str = Field(pattern=ACCOUNT_PATTERN)
    enabled: bool = True
    max_retries: int | None = Field(default=None, ge=0, le=5, description="LivePerson retries by count")
    retention_time: int | None = Field(
        default=None, ge=2, le=259_200, description="LivePerson time to live, seconds (overrides max_retries)"
    )


class InstallationPatch(Model):
    enabled: bool | None = None
    max_retries: int | None = Field(default=None, ge=0, le=5)
    retention_time: int | None = Field(default=None, ge=2, le=259_200)


class InstallationOut(OutModel):
    id: str
    application_id: str
    account_id: str
    enabled: bool
    max_retries: int | None
    retention_time: int | None
    state: str = Field(description="LivePerson TTL state: UP, FAILED, IN_TRANSITION or RECOVERED")
    state_changed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApplicationCreatedOut)
async def create_application(body: ApplicationIn, ctx: Context, who: CurrentPrincipal) -> dict[str, object]:
    who.require_admin()
    guard_target(ctx, body.operational_url, "operational_url")
    app = await store.create_application(
        ctx.db, ctx.box, body.name, body.description, body.client_id, body.owner_account_id
    )
    if body.operational_url is not None:
        secret = await operational.configure(ctx.db, ctx.box, app["id"], body.operational_url)
        app = {**app, "operational_url": body.operational_url, "operational_secret": secret}
    return app


@router.get("", response_model=Page[ApplicationOut])
async def list_applications(
    ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    if who.kind == "account":
        raise ApiError(403, "account tokens cannot list applications; use an application or the admin token")
    who.require(CONFIGURATION_RW)
    only = None if who.is_admin else who.application_id
    rows, next_cursor = await store.list_applications(ctx.db, limit, cursor, only_id=only)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{app_id}", response_model=ApplicationOut)
async def get_application(app_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> object:
    who.require_application(app_id)
    who.require(CONFIGURATION_RW)
    return await store.get_application(ctx.db, app_id)


@router.patch("/{app_id}", response_model=ApplicationUpdatedOut)
async def update_application(
    app_id: ResourceId, body: ApplicationPatch, ctx: Context, who: CurrentPrincipal
) -> object:
    who.require_application(app_id)
    who.require(CONFIGURATION_RW)
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, "name")
    if "owner_account_id" in changes:
        who.require_admin()  # it hands the application's webhooks to that account's tokens
    secret = None
    if "operational_url" in changes:
        guard_target(ctx, changes["operational_url"], "operational_url")
        await store.get_application(ctx.db, app_id)
        secret = await operational.configure(ctx.db, ctx.box, app_id, changes.pop("operational_url"))
    return {**await store.update_application(ctx.db, app_id, changes), "operational_secret": secret}


@router.delete("/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_application(app_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> Response:
    who.require_application(app_id)
    who.require_admin()
    await store.delete_application(ctx.db, app_id)
    ctx.auth.installs.forget(app_id)
    return Response(status_code=204)


@router.post("/{app_id}/installations", status_code=status.HTTP_201_CREATED, response_model=InstallationOut)
async def create_installation(
    app_id: ResourceId, body: InstallationIn, ctx: Context, who: CurrentPrincipal
) -> object:
    who.require_application(app_id)
    who.require_admin()
    return await store.create_installation(
        ctx.db, app_id, body.account_id, body.enabled, body.max_retries, body.retention_time
    )


@router.get("/{app_id}/installations", response_model=Page[InstallationOut])
async def list_installations(
    app_id: ResourceId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    who.require_application(app_id)
    who.require_any(STATE_RO, CONFIGURATION_RW)
    rows, next_cursor = await store.list_installations(ctx.db, app_id, limit, cursor, who.account_id)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{app_id}/installations/{installation_id}", response_model=InstallationOut)
async def get_installation(
    app_id: ResourceId, installation_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    who.require_application(app_id)
    installation = await store.get_installation(ctx.db, app_id, installation_id)
    _check_bound(who, installation)
    who.require_any(STATE_RO, CONFIGURATION_RW)
    return installation


@router.patch("/{app_id}/installations/{installation_id}", response_model=InstallationOut)
async def update_installation(
    app_id: ResourceId,
    installation_id: ResourceId,
    body: Annotated[InstallationPatch, Body()],
    ctx: Context,
    who: CurrentPrincipal,
) -> object:
    who.require_application(app_id)
    _check_bound(who, await store.get_installation(ctx.db, app_id, installation_id))
    changes = body.model_dump(exclude_unset=True)
    # The enabled flag is webhook state (LiveChat's enable/disable_license_webhooks); the retry policy
    # is configuration.
    if "enabled" in changes:
        who.require(STATE_RW)
    if changes.keys() - {"enabled"}:
        who.require(CONFIGURATION_RW)
    if not changes:
        who.require_any(STATE_RW, CONFIGURATION_RW)
    reject_nulls(changes, "enabled")
    return await store.update_installation(ctx.db, app_id, installation_id, changes)


@router.delete("/{app_id}/installations/{installation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_installation(
    app_id: ResourceId, installation_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    who.require_application(app_id)
    installation = await store.get_installation(ctx.db, app_id, installation_id)
    _check_bound(who, installation)
    who.require(CONFIGURATION_RW)
    await store.delete_installation(ctx.db, app_id, installation_id)
    ctx.auth.installs.forget(app_id, str(installation["account_id"]))
    return Response(status_code=204)
