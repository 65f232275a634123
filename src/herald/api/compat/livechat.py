"""LiveChat Configuration API webhooks: `POST /v3.3/configuration/action/<method>` (and v3.4 to v3.7).

A LiveChat client id is a Herald application's `client_id`; a registered webhook is an application-owned
subscription with the `livechat` profile; "webhooks enabled for a license" is a per-(application, account)
switch, on from installation until the license turns it off (ADR 0006).

Callers (ADR 0013):
- a Bearer OAuth token (`hoat_…`) is the application itself: `owner_client_id` must be its own client id
  (another one is "not found"); on the license-state methods the license is the account the token is
  bound to, and an explicit `owner_client_id` is refused;
- a personal access token (`Basic base64(<agent account id>:<token>)`, or Bearer) is issued for one
  account (license): the token names the license, the username is the agent's LiveChat account ID, which
  Herald does not model. It registers, lists and unregisters the webhooks of applications whose
  `owner_account_id` is its account (the developer's license), and switches the license's webhooks of an
  application installed in its account (`owner_client_id` required there);
- the admin token may manage any application's webhooks, but has no license of its own;
- `list_webhook_names` needs no authorization at all.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AfterValidator, Field

from herald.api.auth import Context, Principal, bearer, client_address, principal_for_token
from herald.api.context import AppContext, get_context
from herald.api.errors import ApiError
from herald.api.routers.subscriptions import _guard_url, check_url
from herald.api.schemas import Model, OutModel, Text
from herald.domain import livechat as lc
from herald.domain.scopes import CONFIGURATION_RW, STATE_RO, STATE_RW
from herald.store import livechat as store
from herald.store.errors import NotFound

# LiveChat's error types, with the HTTP status Herald answers them with.
STATUS = {
    "authentication": 401,
    "authorization": 403,
    "not_found": 404,
    "already_exists": 409,
    "limit_reached": 409,
    "validation": 422,
    "unsupported_version": 400,
    "too_many_requests": 429,
    "internal": 500,
}


def lc_error(type_: str, message: str, **data: Any) -> ApiError:
    return ApiError(STATUS[type_], message, type_=type_, **data)


class LiveChatRoute(APIRoute):
    """A body that is not JSON is a `validation` error, as LiveChat answers it (Herald says bad_request)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = exc.errors()
                if any(e.get("type") == "json_invalid" for e in errors):
                    raise lc_error("validation", "request body is not valid JSON", field="") from None
                raise

        return route


router = APIRouter(tags=["livechat"], route_class=LiveChatRoute)


# ------------------------------------------------------------------------------------------- callers


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal

    @property
    def personal(self) -> bool:
        """A personal access token: acts on its own account's license."""
        return self.principal.kind == "account"


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, param = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        account, sep, token = b64decode(param.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ("", "")
    return (account, token) if sep else ("", "")


async def caller(
    request: Request,
    ctx: Annotated[AppContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """`Bearer <token>`, or a personal access token as `Basic base64(account:token)`."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return Caller(await principal_for_token(request, ctx, credentials.credentials))
    basic = _basic(request)
    if basic is None:
        raise lc_error(
            "authentication", "authentication required: send Bearer <token> or Basic base64(account:token)"
        )
    agent, token = basic
    # The username is LiveChat's agent account ID: any non-empty name; the token alone names the license.
    principal = await principal_for_token(request, ctx, token) if agent and token else None
    if principal is None or principal.kind != "account":
        ctx.auth.limiter.failed(client_address(request))
        raise lc_error("authentication", "authentication failed")
    return Caller(principal)


CurrentCaller = Annotated[Caller, Depends(caller)]


async def owner_application(ctx: AppContext, who: Caller, owner_client_id: str) -> str:
    """The application that owns the webhooks, for register / list / unregister."""
    p = who.principal
    app = await store.application_by_client_id(ctx.db, owner_client_id)
    # An application's webhooks fire in every account it is installed in: only the application itself,
    # the admin, or the tokens of the account that owns it (the developer's license) may change them.
    if (
        app is None
        or (p.kind == "application" and app["id"] != p.application_id)
        or (who.personal and (p.account_id is None or app["owner_account_id"] != p.account_id))
    ):
        raise lc_error("not_found", "owner_client_id not found", field="owner_client_id")
    return str(app["id"])


async def license_of(ctx: AppContext, who: Caller, owner_client_id: str | None) -> tuple[str, str]:
    """(application id, account id) the license-state methods act on."""
    p = who.principal
    if p.kind == "application":
        if owner_client_id is not None:
            app = await store.application_by_client_id(ctx.db, owner_client_id)
            if app is None or app["id"] != p.application_id:
                raise lc_error("not_found", "owner_client_id not found", field="owner_client_id")
            raise lc_error(
                "validation",
                "owner_client_id: not allowed with a Bearer token; the token's client is used",
                field="owner_client_id",
            )
        if p.account_id is None or p.application_id is None:
            raise lc_error(
                "authorization",
                "this token names no license: get one from /oauth/token with account_id",
            )
        if not await p.sees_account(p.account_id):
            raise lc_error("not_found", "license not found", field="license_id")
        return p.application_id, p.account_id
    if who.personal and p.account_id is not None:
        if owner_client_id is None:
            raise lc_error(
                "validation",
                "owner_client_id: required with a personal access token",
                field="owner_client_id",
            )
        app = await store.application_by_client_id(ctx.db, owner_client_id)
        if app is None or not (p.installed and await p.installed(str(app["id"]), p.account_id)):
            raise lc_error("not_found", "owner_client_id not found", field="owner_client_id")
        return str(app["id"]), p.account_id
    raise lc_error(
        "authorization",
        "the admin token has no license: use an application token bound to an account or a personal "
        "access token",
    )


def require(who: Caller, scope: str) -> None:
    if not who.principal.has(scope):
        raise lc_error("authorization", f"this token lacks the scope {scope}", scope=scope)


# ------------------------------------------------------------------------------------------- bodies

ClientId = Annotated[str, Field(min_length=1, max_length=64)]


class RegisterWebhookIn(Model):
    url: Annotated[Text, Field(min_length=1, max_length=2048), AfterValidator(check_url)]
    description: Text | None = Field(default=None, max_length=2000)
    action: str = Field(min_length=1, max_length=100)
    secret_key: Text = Field(min_length=1, max_length=1000)
    owner_client_id: ClientId
    type: Literal["license", "bot"]
    filters: dict[str, Any] | None = None
    additional_data: list[str] | None = None


class RegisterWebhookOut(OutModel):
    id: str


class ListWebhooksIn(Model):
    owner_client_id: ClientId


class WebhookOut(OutModel):
    id: str
    url: str
    description: str | None
    action: str
    filters: dict[str, Any]
    owner_client_id: str
    type: str


class UnregisterWebhookIn(Model):
    id: str = Field(min_length=1, max_length=64)
    owner_client_id: ClientId


class ListWebhookNamesIn(Model):
    version: str | None = Field(default=None, description="An API version (e.g. 3.3); default: the path's")


class WebhookNameOut(OutModel):
    action: str
    filters: list[str]
    additional_data: list[str]


class LicenseStateIn(Model):
    owner_client_id: ClientId | None = Field(
        default=None, description="Only with a personal access token; refused with a Bearer token"
    )


class LicenseStateOut(OutModel):
    license_webhooks_enabled: bool


class Empty(OutModel):
    pass


# ------------------------------------------------------------------------------------------- methods


def _version_of(raw: str | None, default: str) -> str:
    if raw is None:
        return default
    version = raw if raw.startswith("v") else f"v{raw}"
    if version not in lc.VERSIONS:
        raise lc_error("unsupported_version", f"unsupported version {raw}", field="version")
    return version


def add_methods(version: str) -> None:
    prefix = f"/{version}/configuration/action"
    tag = f"livechat {version}"

    async def register_webhook(
        body: RegisterWebhookIn, ctx: Context, who: CurrentCaller
    ) -> RegisterWebhookOut:
        app_id = await owner_application(ctx, who, body.owner_client_id)
        require(who, CONFIGURATION_RW)
        _guard_url(ctx, body.url)
        try:
            filters, extra = lc.validate_registration(
                body.action, body.filters, body.additional_data, version
            )
        except lc.RegistrationError as exc:
            raise lc_error("validation", str(exc), field=exc.field) from None
        options = {
            "version": version,
            "type": body.type,
            "owner_client_id": body.owner_client_id,
            "filters": filters,
            "additional_data": extra,
        }
        try:
            sub_id = await store.register_webhook(
                ctx.db,
                ctx.box,
                app_id,
                url=body.url,
                action=body.action,
                secret_key=body.secret_key,
                description=body.description,
                options=options,
            )
        except store.LimitReached:
            raise lc_error("limit_reached", "Limit reached", field="action", limit=lc.WEBHOOK_LIMIT) from None
        return RegisterWebhookOut(id=sub_id)

    async def list_webhooks(body: ListWebhooksIn, ctx: Context, who: CurrentCaller) -> list[WebhookOut]:
        app_id = await owner_application(ctx, who, body.owner_client_id)
        require(who, CONFIGURATION_RW)
        rows = await store.list_webhooks(ctx.db, app_id)
        return [
            WebhookOut(
                id=r["id"],
                url=r["url"],
                description=r["description"],
                action=r["event_types"][0],
                filters=r["livechat"].get("filters") or {},
                owner_client_id=r["livechat"].get("owner_client_id", body.owner_client_id),
                type=r["livechat"].get("type", "license"),
            )
            for r in rows
        ]

    async def unregister_webhook(body: UnregisterWebhookIn, ctx: Context, who: CurrentCaller) -> Empty:
        app_id = await owner_application(ctx, who, body.owner_client_id)
        require(who, CONFIGURATION_RW)
        try:
            await store.unregister_webhook(ctx.db, app_id, body.id)
        except NotFound:
            raise lc_error("not_found", "webhook not found", field="id") from None
        ctx.subscription_changed(body.id)
        return Empty()

    async def list_webhook_names(
        body: Annotated[ListWebhookNamesIn | None, Body()] = None,
    ) -> list[WebhookNameOut]:
        """No authorization, as LiveChat documents it: the list is the same for everyone."""
        wanted = _version_of(body.version if body else None, version)
        return [WebhookNameOut(**item) for item in lc.webhook_names(wanted)]

    async def enable_license_webhooks(
        ctx: Context, who: CurrentCaller, body: Annotated[LicenseStateIn | None, Body()] = None
    ) -> Empty:
        app_id, account_id = await license_of(ctx, who, body.owner_client_id if body else None)
        require(who, STATE_RW)
        await store.set_license_webhooks(ctx.db, app_id, account_id, True)
        return Empty()

    async def disable_license_webhooks(
        ctx: Context, who: CurrentCaller, body: Annotated[LicenseStateIn | None, Body()] = None
    ) -> Empty:
        app_id, account_id = await license_of(ctx, who, body.owner_client_id if body else None)
        require(who, STATE_RW)
        await store.set_license_webhooks(ctx.db, app_id, account_id, False)
        return Empty()

    async def get_license_webhooks_state(
        ctx: Context, who: CurrentCaller, body: Annotated[LicenseStateIn | None, Body()] = None
    ) -> LicenseStateOut:
        app_id, account_id = await license_of(ctx, who, body.owner_client_id if body else None)
        require(who, STATE_RO)
        enabled = await store.license_webhooks_enabled(ctx.db, app_id, account_id)
        return LicenseStateOut(license_webhooks_enabled=enabled)

    methods: list[Callable[..., Any]] = [
        register_webhook,
        list_webhooks,
        unregister_webhook,
        list_webhook_names,
        enable_license_webhooks,
        disable_license_webhooks,
        get_license_webhooks_state,
    ]
    for method in methods:
        router.add_api_route(
            f"{prefix}/{method.__name__}",
            method,
            methods=["POST"],
            name=f"livechat_{version}_{method.__name__}",
            operation_id=f"livechat_{version.replace('.', '_')}_{method.__name__}",
            tags=[tag],
            summary=f"LiveChat {method.__name__} ({version})",
        )


for _version in lc.VERSIONS:
    add_methods(_version)

METHODS = (
    "register_webhook",
    "list_webhooks",
    "unregister_webhook",
    "list_webhook_names",
    "enable_license_webhooks",
    "disable_license_webhooks",
    "get_license_webhooks_state",
)


@router.post("/{api_version}/configuration/action/{method}", include_in_schema=False)
async def unknown(api_version: str, method: str) -> None:
    """Every other version or method under the Configuration API's path."""
    if api_version not in lc.VERSIONS:
        raise lc_error("unsupported_version", f"unsupported version {api_version}", version=api_version)
    raise lc_error("not_found", f"no method {method}", method=method[:100])
