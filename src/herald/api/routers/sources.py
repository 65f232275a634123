"""Sources (admin): event buses Herald consumes events from — create, list, get, change, delete, and each
source's dead letters (messages that could not become events)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.schemas import Cursor, Limit, Model, OutModel, Page, ResourceId, Text, reject_nulls
from herald.buses.urls import BusURLError, parse_bus_url
from herald.sources.spec import KINDS, TARGET_FIELD, URL_KIND
from herald.store import sources as store

router = APIRouter(prefix="/v1/sources", tags=["sources"])

Kind = Literal["redis-stream", "nats-jetstream", "amqp", "kafka"]
# A JetStream durable name and a Redis group alike: no spaces, dots or wildcards.
GROUP_RE = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
TARGET_RE = re.compile(r"^[^\s\x00]{1,255}$")
PATH_RE = r"^[^\s.\x00]+(\.[^\s.\x00]+)*$"
PathField = Field(default=None, max_length=255, pattern=PATH_RE)


class SourceIn(Model):
    name: Text = Field(min_length=1, max_length=200)
    kind: Kind
    url: Text = Field(min_length=1, max_length=2048, description="redis://, nats://, amqp:// or kafka:// URL")
    stream: Text | None = Field(default=None, description="redis-stream: the stream key")
    subject: Text | None = Field(default=None, description="nats-jetstream: the subject (in a stream)")
    queue: Text | None = Field(default=None, description="amqp: the queue (declared durable if missing)")
    topic: Text | None = Field(default=None, description="kafka: the topic")
    group: str = Field(
        default="herald", description="The consumer group (redis-stream, kafka) or durable consumer (nats)"
    )
    account: str | None = Field(default=None, description="Every message belongs to this account")
    account_field: str | None = PathField
    type_field: str = Field(default="type", max_length=255, pattern=PATH_RE)
    id_field: str = Field(default="id", max_length=255, pattern=PATH_RE)
    data_field: str = Field(default="data", max_length=255, pattern=PATH_RE)
    ordering_key_field: str = Field(default="ordering_key", max_length=255, pattern=PATH_RE)
    enabled: bool = True


class SourcePatch(Model):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    url: Text | None = Field(default=None, min_length=1, max_length=2048)
    stream: Text | None = None
    subject: Text | None = None
    queue: Text | None = None
    topic: Text | None = None
    group: str | None = None
    account: str | None = None
    account_field: str | None = PathField
    type_field: str | None = Field(default=None, max_length=255, pattern=PATH_RE)
    id_field: str | None = Field(default=None, max_length=255, pattern=PATH_RE)
    data_field: str | None = Field(default=None, max_length=255, pattern=PATH_RE)
    ordering_key_field: str | None = Field(default=None, max_length=255, pattern=PATH_RE)
    enabled: bool | None = None


class SourceOut(OutModel):
    id: str
    name: str
    kind: str
    url: str = Field(description="The password, if any, masked")
    stream: str | None = None
    subject: str | None = None
    queue: str | None = None
    topic: str | None = None
    group: str
    account: str | None
    account_field: str | None
    type_field: str
    id_field: str
    data_field: str
    ordering_key_field: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class DeadLetterOut(OutModel):
    id: str
    source_id: str
    message_id: str = Field(description="The message's id on the bus")
    reason: str
    raw: str = Field(description="The message body as text (up to 64 KiB)")
    created_at: datetime


def check_source(values: dict[str, Any]) -> dict[str, Any]:
    """The one check of a source's settings, for create and change alike: the stored columns, or a 422
    naming the field at fault."""
    kind = values["kind"]
    if kind not in KINDS:
        raise ApiError(422, f"kind: must be one of {', '.join(KINDS)}", field="kind")
    wanted = TARGET_FIELD[kind]
    for name in ("stream", "subject", "queue", "topic"):
        if name != wanted and values.get(name) is not None:
            raise ApiError(422, f"{name}: a {kind} source reads a {wanted}, not a {name}", field=name)
    target = values.get(wanted)
    if not target or not TARGET_RE.match(target):
        raise ApiError(422, f"{wanted}: a {kind} source needs a {wanted} (no spaces)", field=wanted)
    try:
        parse_bus_url(values["url"], URL_KIND[kind])
    except BusURLError as exc:
        raise ApiError(422, f"url: {exc}", field="url") from None
    if not GROUP_RE.match(values["group"] or ""):
        raise ApiError(422, "group: letters, digits, _ and - only (1-255)", field="group")
    account, account_field = values.get("account"), values.get("account_field")
    if account is not None and account_field is not None:
        raise ApiError(422, "account_field: give account or account_field, not both", field="account_field")
    if account is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$", account):
        raise ApiError(422, "account: not an account id", field="account")
    return {
        "name": values["name"],
        "kind": kind,
        "url": values["url"],
        "target": target,
        "group_name": values["group"],
        "account": account,
        "account_field": account_field if account is not None else (account_field or "account"),
        "type_field": values["type_field"],
        "id_field": values["id_field"],
        "data_field": values["data_field"],
        "ordering_key_field": values["ordering_key_field"],
        "enabled": values["enabled"],
    }


def _out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("target", "group_name")}
    out[TARGET_FIELD.get(row["kind"], "stream")] = row["target"]
    out["group"] = row["group_name"]
    if row["account"] is not None:
        out["account_field"] = None
    return out


def _in(row: dict[str, Any], url: str) -> dict[str, Any]:
    """A stored source as SourceIn values (what a PATCH changes)."""
    values = _out(row)
    values["url"] = url
    return values


def _authorize(who: Principal) -> None:
    who.require_admin()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SourceOut)
async def create_source(body: SourceIn, ctx: Context, who: CurrentPrincipal) -> object:
    _authorize(who)
    return _out(await store.create_source(ctx.db, ctx.box, check_source(body.model_dump())))


@router.get("", response_model=Page[SourceOut])
async def list_sources(
    ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    _authorize(who)
    rows, next_cursor = await store.list_sources(ctx.db, ctx.box, limit, cursor)
    return {"data": [_out(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{source_id}", response_model=SourceOut)
async def get_source(source_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> object:
    _authorize(who)
    return _out(await store.get_source(ctx.db, ctx.box, source_id))


@router.patch("/{source_id}", response_model=SourceOut)
async def update_source(
    source_id: ResourceId, body: SourcePatch, ctx: Context, who: CurrentPrincipal
) -> object:
    _authorize(who)
    changes = body.model_dump(exclude_unset=True)
    reject_nulls(changes, "name", "url", "group", "type_field", "id_field", "data_field", "enabled")
    current = await store.get_source(ctx.db, ctx.box, source_id)
    values = _in(current, await store.stored_url(ctx.db, ctx.box, source_id))
    if "account" in changes and changes["account"] is not None:
        values["account_field"] = None
    if "account_field" in changes and changes["account_field"] is not None:
        values["account"] = None
    values.update(changes)
    return _out(await store.update_source(ctx.db, ctx.box, source_id, check_source(values)))


@router.delete("/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(source_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> Response:
    _authorize(who)
    await store.delete_source(ctx.db, source_id)
    return Response(status_code=204)


@router.get("/{source_id}/dead-letters", response_model=Page[DeadLetterOut])
async def list_dead_letters(
    source_id: ResourceId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    _authorize(who)
    await store.get_source(ctx.db, ctx.box, source_id)  # 404 for an unknown source
    rows, next_cursor = await store.list_dead_letters(ctx.db, source_id, limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}
