"""Publish: one event or a batch, accepted (202) only after events and deliveries are committed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Request, status
from pydantic import Discriminator, Field, Tag

from herald import metrics
from herald.api.auth import Context, CurrentPrincipal
from herald.api.errors import ApiError
from herald.api.schemas import AccountId, Model, OutModel, Text
from herald.domain.catalog import validate_event_data
from herald.domain.livechat import ACTION_FILTERS
from herald.domain.scopes import EVENTS_PUBLISH
from herald.ids import new_id
from herald.store.database import Database
from herald.store.event_types import validators
from herald.store.publish import NewEvent
from herald.tracing import traced_publish

router = APIRouter(prefix="/v1/accounts/{account_id}/events", tags=["events"])

MAX_BATCH = 1000


class LiveChatContextIn(Model):
    """What LiveChat webhook filters and additional_data need beyond the payload (docs/livechat.md)."""

    chat_users: list[dict[str, Any]] | None = Field(
        default=None, max_length=1000, description='The chat\'s users: [{"id", "type", "owner_client_id"?}]'
    )
    chat_properties: dict[str, Any] | None = None
    source_client_id: Text | None = Field(
        default=None, max_length=255, description="The client id of the application that caused the event"
    )
    author_type: Literal["customer", "agent"] | None = None


class EventIn(Model):
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[^\s\x00]+$",
        description="Your id for the event; publishing an id again is accepted and delivers nothing new",
    )
    type: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-]+$")
    data: dict[str, Any]
    timestamp: datetime | None = Field(default=None, description="When it happened (default: now)")
    ordering_key: Text | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Events with the same key reach ordered subscriptions one at a time, in publish order",
    )
    context: LiveChatContextIn | None = Field(
        default=None, description="LiveChat actions only: what webhook filters need beyond the payload"
    )


class EventBatchIn(Model):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


PublishIn = Annotated[
    Annotated[EventIn, Tag("event")] | Annotated[EventBatchIn, Tag("batch")], Discriminator(_kind)
]


class PublishOut(OutModel):
    ids: list[str] = Field(description="The event ids, in the order published")
    duplicates: list[str] = Field(description="Ids that were already known: accepted, nothing new delivered")


# Receivers must be able to render the timestamp (ISO 8601, year 1970-9999).
EARLIEST, LATEST = 0.0, datetime(9999, 12, 30, tzinfo=UTC).timestamp()


async def check_data(db: Database, events: list[EventIn], batch: bool) -> None:
    """Refuse (422) the whole request when any event of a built-in or registered custom type has data its
    model or JSON Schema refuses, listing every problem of every event; other types take any JSON object."""
    errors: list[dict[str, Any]] = []
    custom = validators(db)
    for index, event in enumerate(events):
        prefix = f"events.{index}.data" if batch else "data"
        problems = validate_event_data(event.type, event.data) + await custom.errors(
            db, event.type, event.data
        )
        for error in problems:
            field = f"{prefix}.{error['field']}" if error["field"] else prefix
            errors.append({**error, "field": field, "index": index, "type": event.type})
    if errors:
        first = errors[0]
        message = f"{first['field']}: {first['message']} (event type {first['type']})"
        raise ApiError(422, message, field=first["field"], errors=errors)


def to_new_event(event: EventIn, now: float, where: str) -> NewEvent:
    """`where` is the event's path in the request ("" or "events.3.") for error messages."""
    ts = event.timestamp
    if ts is not None and ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    epoch = ts.timestamp() if ts else now
    if not EARLIEST <= epoch <= LATEST:
        raise ApiError(422, f"{where}timestamp: must be between 1970 and 9999", field=f"{where}timestamp")
    if event.context is not None and event.type not in ACTION_FILTERS:
        raise ApiError(422, f"{where}context: only LiveChat actions take a context", field=f"{where}context")
    try:
        data = orjson.dumps(event.data).decode()
    except TypeError as exc:  # integers beyond 64 bits: most receivers could not read them either
        raise ApiError(422, f"{where}data: {exc}", field=f"{where}data") from exc
    return NewEvent(
        id=event.id or new_id("evt"),
        type=event.type,
        timestamp=epoch,
        data=data,
        ordering_key=event.ordering_key,
        context=event.context.model_dump(exclude_none=True) if event.context else None,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=PublishOut)
async def publish_events(
    account_id: AccountId,
    body: Annotated[PublishIn, Body()],
    request: Request,
    ctx: Context,
    who: CurrentPrincipal,
) -> PublishOut:
    await who.require_account(account_id)
    who.require(EVENTS_PUBLISH)
    now = time.time()
    events = body.events if isinstance(body, EventBatchIn) else [body]
    await check_data(ctx.db, events, isinstance(body, EventBatchIn))
    if isinstance(body, EventBatchIn):
        batch = [to_new_event(e, now, f"events.{i}.") for i, e in enumerate(body.events)]
    else:
        batch = [to_new_event(body, now, "")]
    result = await traced_publish(ctx.db, account_id, batch, request.headers.get("traceparent"))
    metrics.EVENTS_PUBLISHED.inc(result.created)
    metrics.DELIVERIES_CREATED.inc(result.deliveries)
    if result.deliveries:
        ctx.notify_published()
    return PublishOut(ids=result.ids, duplicates=result.duplicates)
