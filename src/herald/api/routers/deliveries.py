"""The delivery log of an account: search, inspect attempts, resend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal
from herald.api.schemas import AccountId, Cursor, Limit, OutModel, Page, QueryText, ResourceId
from herald.domain.models import DeliveryStatus, ErrorKind
from herald.domain.scopes import DELIVERIES_READ, DELIVERIES_RW
from herald.store import deliveries as store
from herald.store.deliveries import DeliveryFilter

router = APIRouter(prefix="/v1/accounts/{account_id}/deliveries", tags=["deliveries"])


class DeliveryOut(OutModel):
    id: str
    account_id: str
    event_id: str
    event_type: str
    subscription_id: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error_kind: ErrorKind | None
    finished_at: datetime | None
    replay_of: str | None = Field(
        default=None, description="The replay job that created this delivery; null for ordinary ones"
    )
    is_replay: bool = False


class AttemptOut(OutModel):
    id: str
    attempt: int
    attempted_at: datetime
    duration_ms: float
    status_code: int | None
    error_kind: ErrorKind | None
    error_message: str | None
    response_body: str | None = Field(description="The first 4 KiB of the response body")
    request_headers: dict[str, str]


class EventOut(OutModel):
    id: str
    type: str
    timestamp: datetime
    ordering_key: str | None
    data: Any
    expunged_at: datetime | None = Field(
        default=None, description="When its content was expunged (data is then null)"
    )


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]
    event: EventOut | None


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "is_replay": row.get("replay_of") is not None}


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    return {**_row(row), "event": row.get("event")}


@router.get("", response_model=Page[DeliveryOut])
async def list_deliveries(
    account_id: AccountId,
    ctx: Context,
    who: CurrentPrincipal,
    subscription_id: QueryText = None,
    status: DeliveryStatus | None = None,
    event_type: QueryText = None,
    event_id: QueryText = None,
    since: datetime | None = None,
    until: datetime | None = None,
    is_replay: bool | None = None,
    replay_of: QueryText = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> object:
    await who.require_account(account_id)
    who.require(DELIVERIES_READ)
    flt = DeliveryFilter(
        subscription_id=subscription_id,
        status=status,
        event_type=event_type,
        event_id=event_id,
        since=since.timestamp() if since else None,
        until=until.timestamp() if until else None,
        is_replay=is_replay,
        replay_of=replay_of,
    )
    rows, next_cursor = await store.list_deliveries(ctx.db, account_id, flt, limit, cursor)
    return {"data": [_row(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{delivery_id}", response_model=DeliveryDetailOut)
async def get_delivery(
    account_id: AccountId, delivery_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(DELIVERIES_READ)
    return _detail(await store.get_delivery(ctx.db, account_id, delivery_id))


@router.post("/{delivery_id}/resend", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryDetailOut)
async def resend_delivery(
    account_id: AccountId, delivery_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(DELIVERIES_RW)
    out = await store.resend(ctx.db, account_id, delivery_id)
    ctx.notify_published()
    return _detail(out)
