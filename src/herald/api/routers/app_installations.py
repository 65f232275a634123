"""LivePerson app installations (`/v1/accounts/{account_id}/app-installations`): install an app into an
account with LivePerson's manifest and get its client id and client secret. Admin only, like installing
applications. How the manifest maps onto applications, installations and subscriptions:
see herald.store.app_installations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import Field, field_validator

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.routers.subscriptions import _guard_url, check_url
from herald.api.schemas import AccountId, Cursor, Limit, Model, OutModel, Page, ResourceId, Text
from herald.store import app_installations as store
from herald.store import ttl as ttl_store

router = APIRouter(prefix="/v1/accounts/{account_id}/app-installations", tags=["app installations"])


class WebhookIn(Model):
    endpoint: Text = Field(min_length=1, max_length=2048, description="TLS URL (http only where allowed)")
    max_retries: int | None = Field(
        default=None,
        ge=0,
        le=5,
        description="Retries by count, 30 s apart (default 0). With retention_time, an explicit 0 drops the"
        " event type's failed events instead of failing the installation",
    )

    _endpoint = field_validator("endpoint")(check_url)


class RetryIn(Model):
    retention_time: int = Field(ge=2, le=259_200, description="Time to live of an event, seconds")


class WebhooksIn(Model):
    retry: RetryIn | None = None
    conversation_change: WebhookIn | None = Field(default=None, alias="cqm.ExConversationChangeNotification")
    content: WebhookIn | None = Field(default=None, alias="ms.MessagingEventNotification.ContentEvent")
    rich_content: WebhookIn | None = Field(
        default=None, alias="ms.MessagingEventNotification.RichContentEvent"
    )
    chat_state: WebhookIn | None = Field(default=None, alias="ms.MessagingEventNotification.ChatStateEvent")
    accept_status: WebhookIn | None = Field(
        default=None, alias="ms.MessagingEventNotification.AcceptStatusEvent"
    )

    def endpoints(self) -> dict[str, WebhookIn]:
        out = {}
        for name, info in type(self).model_fields.items():
            hook = getattr(self, name)
            if info.alias in store.CONNECTOR_EVENT_TYPES and hook is not None:
                out[str(info.alias)] = hook
        return out


class CapabilitiesIn(Model):
    webhooks: WebhooksIn


class ManifestIn(Model):
    client_name: Text = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    enabled: bool = True
    grant_types: list[Text] = Field(default_factory=lambda: ["client_credentials"], max_length=10)
    scope: Text | None = Field(default=None, max_length=500)
    capabilities: CapabilitiesIn


class AppInstallationOut(OutModel):
    id: str = Field(description="The installation id (the id of its application)")
    account_id: str
    installation_id: str = Field(description="Its installation (the application's, in this account)")
    client_id: str
    enabled: bool
    state: str = Field(description="LivePerson TTL state: UP, FAILED, IN_TRANSITION or RECOVERED")
    state_changed_at: datetime | None = Field(description="When `state` last changed; null: never")
    subscription_ids: dict[str, str] = Field(description="The subscription of each event type")
    manifest: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TransitionOut(OutModel):
    id: str
    from_state: str
    to_state: str
    reason: str = Field(description="delivery_failed, endpoints_answer, store_empty, drain_ended or ttl_off")
    created_at: datetime


class AppInstallationCreatedOut(AppInstallationOut):
    client_secret: str = Field(description="Shown once; every delivery is signed with it")


def _check(ctx: Any, body: ManifestIn) -> dict[str, Any]:
    """The URL guard per endpoint (422 naming its path); the manifest as a plain document."""
    for event_type, hook in body.capabilities.webhooks.endpoints().items():
        try:
            _guard_url(ctx, hook.endpoint)
        except ApiError as exc:
            path = f"capabilities.webhooks.{event_type}.endpoint"
            raise ApiError(422, path + exc.message.removeprefix("url"), field=path) from None
    return body.model_dump(by_alias=True, exclude_none=True)


async def _authorize(who: Principal, account_id: str) -> None:
    await who.require_account(account_id)
    who.require_admin()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AppInstallationCreatedOut)
async def create_app_installation(
    account_id: AccountId, body: ManifestIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await _authorize(who, account_id)
    return await store.create(ctx.db, ctx.box, account_id, _check(ctx, body))


@router.get("", response_model=Page[AppInstallationOut])
async def list_app_installations(
    account_id: AccountId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    await _authorize(who, account_id)
    rows, next_cursor = await store.list_for_account(ctx.db, account_id, limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{app_id}/transitions", response_model=Page[TransitionOut])
async def list_app_installation_transitions(
    account_id: AccountId,
    app_id: ResourceId,
    ctx: Context,
    who: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> object:
    """The installation's TTL state changes, newest first."""
    await _authorize(who, account_id)
    installation = await store.get(ctx.db, account_id, app_id)
    rows, next_cursor = await ttl_store.transitions(ctx.db, installation["installation_id"], limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{app_id}", response_model=AppInstallationOut)
async def get_app_installation(
    account_id: AccountId, app_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await _authorize(who, account_id)
    return await store.get(ctx.db, account_id, app_id)


@router.put("/{app_id}", response_model=AppInstallationOut)
async def replace_app_installation(
    account_id: AccountId, app_id: ResourceId, body: ManifestIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await _authorize(who, account_id)
    manifest = _check(ctx, body)
    out, changed = await store.replace(ctx.db, ctx.box, account_id, app_id, manifest)
    for sub_id in changed:
        ctx.subscription_changed(sub_id)
    return out


@router.delete("/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_app_installation(
    account_id: AccountId, app_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    await _authorize(who, account_id)
    for sub_id in await store.delete(ctx.db, account_id, app_id):
        ctx.subscription_changed(sub_id)
    ctx.auth.installs.forget(app_id)
    return Response(status_code=204)
