"""Operational events: their types (with JSON Schemas) and what was emitted, per application or account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal
from herald.api.schemas import AccountId, Cursor, Limit, OutModel, Page, ResourceId
from herald.domain.operational import TYPES
from herald.domain.scopes import CONFIGURATION_RW, DELIVERIES_READ, STATE_RO
from herald.store import applications as app_store
from herald.store import operational as store

router = APIRouter(tags=["operational events"])


class OperationalEventTypeOut(OutModel):
    type: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema (Draft 2020-12) of `data`")

    model_config = {"populate_by_name": True}


class OperationalEventTypesOut(OutModel):
    data: list[OperationalEventTypeOut]


class OperationalEventOut(OutModel):
    id: str
    type: str
    application_id: str | None
    account_id: str | None
    data: dict[str, Any]
    created_at: datetime
    delivery_id: str | None = Field(description="Its delivery to the operational URL; null when none is set")
    delivery_status: str | None


@router.get(
    "/v1/operational-event-types", response_model=OperationalEventTypesOut, response_model_by_alias=True
)
async def list_operational_event_types(who: CurrentPrincipal) -> object:
    """Every operational event type Herald emits, with the JSON Schema of its `data`."""
    return {
        "data": [
            {"type": name, "description": schema["description"], "schema": schema}
            for name, schema in TYPES.items()
        ]
    }


@router.get("/v1/applications/{app_id}/operational-events", response_model=Page[OperationalEventOut])
async def list_application_operational_events(
    app_id: ResourceId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    """What Herald emitted for this application, newest first (a token bound to one account: only that
    account's)."""
    who.require_application(app_id)
    who.require_any(STATE_RO, CONFIGURATION_RW, DELIVERIES_READ)
    await app_store.get_application(ctx.db, app_id)  # 404 for an unknown application
    rows, next_cursor = await store.list_events(
        ctx.db, application_id=app_id, account_id=who.account_id, limit=limit, cursor=cursor
    )
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/v1/accounts/{account_id}/operational-events", response_model=Page[OperationalEventOut])
async def list_account_operational_events(
    account_id: AccountId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    """What Herald emitted about this account's endpoints and installations, newest first (an application
    token sees only its own application's)."""
    await who.require_account(account_id)
    who.require_any(STATE_RO, CONFIGURATION_RW, DELIVERIES_READ)
    app_only = who.application_id if who.kind == "application" else None
    rows, next_cursor = await store.list_events(
        ctx.db, application_id=app_only, account_id=account_id, limit=limit, cursor=cursor
    )
    return {"data": rows, "next_cursor": next_cursor}
