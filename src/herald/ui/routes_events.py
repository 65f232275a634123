"""The event type browser (built-in catalog and registered custom types, with JSON Schemas and samples) and
"send test event", which publishes through the same path as POST /v1/accounts/{id}/events."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from herald import metrics
from herald.api.errors import ApiError
from herald.api.routers.events import EventIn, check_data, to_new_event
from herald.domain.catalog import CATALOG
from herald.domain.scopes import EVENTS_PUBLISH
from herald.store import event_types as event_type_store
from herald.store.errors import NotFound
from herald.tracing import traced_publish
from herald.ui.web import PREFIX, Ctx, CurrentUser, checked_form, first, render

router = APIRouter()

AccountId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")]
TypeName = Annotated[str, Path(max_length=255)]


@router.get("/a/{account_id}/event-types", include_in_schema=False)
async def event_types(request: Request, account_id: AccountId, ctx: Ctx, user: CurrentUser) -> Response:
    await user.principal.require_account(account_id)
    builtin = sorted(CATALOG.values(), key=lambda s: (s.family, s.name))
    custom = await event_type_store.list_latest(ctx.db)
    return render(request, user, "event_types.html", account_id=account_id, builtin=builtin, custom=custom)


async def _detail(ctx: Ctx, name: str) -> dict[str, Any]:
    spec = CATALOG.get(name)
    if spec is not None:
        return {
            "name": spec.name,
            "family": spec.family,
            "schema_version": spec.schema_version,
            "description": spec.description,
            "schema": spec.json_schema(),
            "sample": spec.sample,
        }
    try:
        row = await event_type_store.get_latest(ctx.db, name)
    except NotFound:
        raise ApiError(404, f"There is no event type {name}.") from None
    return {
        "name": row["name"],
        "family": "custom",
        "schema_version": row["version"],
        "description": row["description"],
        "schema": row["schema"],
        "sample": {},
    }


async def _page(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    account_id: str,
    name: str,
    status: int = 200,
    **values: Any,
) -> Response:
    detail = await _detail(ctx, name)
    values.setdefault("data_text", orjson.dumps(detail["sample"], option=orjson.OPT_INDENT_2).decode())
    return render(
        request,
        user,
        "event_type.html",
        status=status,
        account_id=account_id,
        t=detail,
        can_publish=user.principal.has(EVENTS_PUBLISH),
        **values,
    )


@router.get("/a/{account_id}/event-types/{name}", include_in_schema=False)
async def event_type(
    request: Request, account_id: AccountId, name: TypeName, ctx: Ctx, user: CurrentUser
) -> Response:
    await user.principal.require_account(account_id)
    return await _page(request, ctx, user, account_id, name)


@router.post("/a/{account_id}/event-types/{name}/test", include_in_schema=False)
async def send_test_event(
    request: Request, account_id: AccountId, name: TypeName, ctx: Ctx, user: CurrentUser
) -> Response:
    """Publish the (edited) sample as an event of this type for the account: validated, stored, fanned
    out and delivered exactly as a published event."""
    form = await checked_form(request, user)
    await user.principal.require_account(account_id)
    user.principal.require(EVENTS_PUBLISH)
    await _detail(ctx, name)  # 404 for a type that does not exist
    data_text = first(form, "data") or "{}"
    try:
        data = orjson.loads(data_text)
        event = EventIn(type=name, data=data)
        await check_data(ctx.db, [event], batch=False)
    except orjson.JSONDecodeError as exc:
        return await _page(
            request, ctx, user, account_id, name, 422, data_text=data_text, errors=[f"data: {exc}"]
        )
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
        return await _page(request, ctx, user, account_id, name, 422, data_text=data_text, errors=errors)
    except ApiError as exc:
        errors = [f"{e['field']}: {e['message']}" for e in exc.data.get("errors", [])] or [exc.message]
        return await _page(request, ctx, user, account_id, name, 422, data_text=data_text, errors=errors)
    result = await traced_publish(ctx.db, account_id, [to_new_event(event, time.time(), "")], None)
    metrics.EVENTS_PUBLISHED.inc(result.created)
    metrics.DELIVERIES_CREATED.inc(result.deliveries)
    if result.deliveries:
        ctx.notify_published()
    return await _page(
        request,
        ctx,
        user,
        account_id,
        name,
        data_text=data_text,
        published={"id": result.ids[0], "deliveries": result.deliveries},
        deliveries_url=f"{PREFIX}/a/{account_id}/deliveries?event_id={result.ids[0]}",
    )
