"""The inspector's API: request bins with a public, unguessable capture URL (like webhook.site, built in).

`/v1/inspect/...` is for the admin or an account's personal access token (bins belong to an account):
create and configure bins, list and search what they captured, follow captures live (server-sent events),
check a captured delivery's signature. The capture URL, the HTML pages and the pages' ticket stream are in
inspect_public.py; the live stream and the tickets in api/inspect_live.py.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field, field_validator, model_validator
from sse_starlette import EventSourceResponse

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.context import AppContext
from herald.api.errors import ApiError
from herald.api.inspect_live import TICKET_TTL, CapturedOut, captured_out, event_stream, make_ticket
from herald.api.schemas import (
    ACCOUNT_PATTERN,
    Cursor,
    Limit,
    Model,
    OutModel,
    Page,
    QueryText,
    ResourceId,
    Text,
)
from herald.domain.scopes import CONFIGURATION_RW
from herald.domain.verify import check_credential, check_endpoint
from herald.store import credentials as credential_store
from herald.store import inspect as store
from herald.store import subscriptions as subscription_store
from herald.store.errors import NotFound
from herald.store.inspect import Search

router = APIRouter(prefix="/v1/inspect", tags=["inspector"])

MAX_DELAY = 10.0  # seconds a bin may hold its answer
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "te", "trailer"}


# ------------------------------------------------------------------------------------------- models


class BinResponse(Model):
    status: int = Field(default=200, ge=100, le=599, description="Status code every capture answers with")
    body: Text = Field(default="", max_length=64 * 1024)
    headers: dict[str, Text] = Field(default_factory=dict, max_length=20)
    delay: float = Field(default=0.0, ge=0.0, le=MAX_DELAY, description="Seconds to wait before answering")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for name, v in value.items():
            if not name or len(name) > 100 or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in HOP_BY_HOP:
                raise ValueError(f"{name} is set by the server")
            if "\r" in v or "\n" in v or len(v) > 1000:
                raise ValueError(f"the value of {name} must be one line of at most 1000 characters")
            out[name.lower()] = v
        return out


class BinIn(Model):
    account_id: str | None = Field(
        default=None,
        pattern=ACCOUNT_PATTERN,
        description="The owning account (the admin must name one; an account token defaults to its own)",
    )
    name: Text | None = Field(default=None, max_length=200)
    response: BinResponse = Field(default_factory=BinResponse)
    ttl: int | None = Field(default=None, ge=60, le=7 * 86_400, description="Seconds until the bin expires")


class BinPatch(Model):
    name: Text | None = Field(default=None, max_length=200)
    response: BinResponse | None = Field(default=None, description="Replaces the whole configured answer")
    ttl: int | None = Field(
        default=None, ge=60, le=7 * 86_400, description="Seconds from now until it expires"
    )


class BinOut(OutModel):
    id: str
    account_id: str
    name: str | None
    url: str = Field(description="The capture URL: any method, any subpath below it")
    page_url: str = Field(description="The live HTML view")
    response: BinResponse
    created_at: datetime
    expires_at: datetime


class VerifyIn(Model):
    credential_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    subscription_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")

    @model_validator(mode="after")
    def _one(self) -> VerifyIn:
        if (self.credential_id is None) == (self.subscription_id is None):
            raise ValueError("give exactly one of credential_id and subscription_id")
        return self


class CheckOut(OutModel):
    header: str
    expected: str | None
    received: str | None
    matched: bool
    note: str


class VerifyOut(OutModel):
    matched: bool = Field(description="Every check matched")
    against: dict[str, str]
    checks: list[CheckOut]


class TicketOut(OutModel):
    ticket: str
    expires_in: int
    stream_url: str


# ------------------------------------------------------------------------------------------ helpers


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _bin_out(row: dict[str, Any], request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        **row,
        "url": f"{base}/inspect/bins/{row['id']}/hook",
        "page_url": f"{base}/inspect/bins/{row['id']}",
        "response": {
            "status": row["response_status"],
            "body": row["response_body"],
            "headers": row["response_headers"],
            "delay": row["response_delay"],
        },
    }


def _account_caller(who: Principal) -> None:
    if who.kind == "application":
        raise ApiError(
            403, "inspector bins belong to accounts: use the admin token or a personal access token"
        )
    who.require(CONFIGURATION_RW)


async def _owned_bin(ctx: AppContext, who: Principal, bin_id: str) -> dict[str, Any]:
    """The bin, if the caller may see it; another tenant's bin does not exist (404)."""
    _account_caller(who)
    row = await store.get_bin(ctx.db, bin_id)
    if not await who.sees_account(row["account_id"]):
        raise ApiError(404, "bin not found", field="bin_id")
    return row


# ------------------------------------------------------------------------------------ the API (auth)


@router.post("/bins", status_code=status.HTTP_201_CREATED, response_model=BinOut)
async def create_bin(body: BinIn, request: Request, ctx: Context, who: CurrentPrincipal) -> object:
    _account_caller(who)
    account_id = body.account_id or who.account_id
    if account_id is None:
        raise ApiError(
            422, "account_id: the admin must name the account that owns the bin", field="account_id"
        )
    await who.require_account(account_id)
    fields = {
        "name": body.name,
        "response_status": body.response.status,
        "response_body": body.response.body,
        "response_headers": body.response.headers,
        "response_delay": body.response.delay,
    }
    s = ctx.settings
    row = await store.create_bin(ctx.db, account_id, fields, body.ttl or s.inspect_ttl, s.inspect_max_bins)
    return _bin_out(row, request)


@router.get("/bins", response_model=Page[BinOut])
async def list_bins(
    request: Request,
    ctx: Context,
    who: CurrentPrincipal,
    account_id: Annotated[str | None, Query(pattern=ACCOUNT_PATTERN)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> object:
    _account_caller(who)
    account = account_id or who.account_id  # None for the admin: every account's bins
    if account is not None:
        await who.require_account(account)
    rows, next_cursor = await store.list_bins(ctx.db, account, limit, cursor)
    return {"data": [_bin_out(r, request) for r in rows], "next_cursor": next_cursor}


@router.get("/bins/{bin_id}", response_model=BinOut)
async def get_bin(bin_id: ResourceId, request: Request, ctx: Context, who: CurrentPrincipal) -> object:
    return _bin_out(await _owned_bin(ctx, who, bin_id), request)


@router.patch("/bins/{bin_id}", response_model=BinOut)
async def update_bin(
    bin_id: ResourceId, body: BinPatch, request: Request, ctx: Context, who: CurrentPrincipal
) -> object:
    await _owned_bin(ctx, who, bin_id)
    given = body.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["name"] = body.name
    if body.response is not None:
        changes.update(
            response_status=body.response.status,
            response_body=body.response.body,
            response_headers=body.response.headers,
            response_delay=body.response.delay,
        )
    if body.ttl is not None:
        changes["expires_at"] = time.time() + body.ttl
    return _bin_out(await store.update_bin(ctx.db, bin_id, changes), request)


@router.delete("/bins/{bin_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_bin(bin_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> Response:
    await _owned_bin(ctx, who, bin_id)
    await store.delete_bin(ctx.db, bin_id)
    return Response(status_code=204)


@router.get("/bins/{bin_id}/requests", response_model=Page[CapturedOut])
async def list_requests(
    bin_id: ResourceId,
    ctx: Context,
    who: CurrentPrincipal,
    q: QueryText = None,
    method: Annotated[str | None, Query(pattern=r"^[A-Za-z]{1,16}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> object:
    """Newest first. `q` finds text in header names and values or the body (case-insensitive)."""
    await _owned_bin(ctx, who, bin_id)
    search = Search(
        text=q,
        method=method,
        since=since.timestamp() if since else None,
        until=until.timestamp() if until else None,
    )
    rows, next_cursor = await store.list_requests(ctx.db, bin_id, search, limit, cursor)
    return {"data": [captured_out(r) for r in rows], "next_cursor": next_cursor}


@router.get("/bins/{bin_id}/requests/{request_id}", response_model=CapturedOut)
async def get_request(
    bin_id: ResourceId, request_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await _owned_bin(ctx, who, bin_id)
    return captured_out(await store.get_request(ctx.db, bin_id, request_id))


@router.post("/bins/{bin_id}/requests/{request_id}/verify", response_model=VerifyOut)
async def verify_request(
    bin_id: ResourceId, request_id: ResourceId, body: VerifyIn, ctx: Context, who: CurrentPrincipal
) -> object:
    """Recompute the authentication headers a credential, or a subscription's profile and credential,
    would put on this exact body, and compare them with what arrived."""
    row = await _owned_bin(ctx, who, bin_id)
    captured = await store.get_request(ctx.db, bin_id, request_id)
    if captured["truncated"]:
        raise ApiError(
            422, "the body was truncated when captured: its signature cannot be checked", field="request_id"
        )
    headers = {name.lower(): value for name, value in orjson.loads(captured["headers"])}
    raw = store.decode_body(captured)
    if body.credential_id is not None:
        try:
            credential = await credential_store.signing_view(
                ctx.db, ctx.box, row["account_id"], body.credential_id
            )
        except NotFound:
            raise ApiError(
                404, f"credential {body.credential_id} not found in the bin's account", field="credential_id"
            ) from None
        checks = check_credential(headers, raw, credential)
        against = {"credential_id": credential.id, "scheme": credential.scheme.value}
    else:
        sub_id = str(body.subscription_id)
        try:
            await subscription_store.get_subscription(
                ctx.db, subscription_store.Owner(account_id=row["account_id"]), sub_id
            )
        except NotFound:
            raise ApiError(
                404, f"subscription {sub_id} not found in the bin's account", field="subscription_id"
            ) from None
        endpoint = (await subscription_store.load_endpoints(ctx.db, ctx.box, [sub_id]))[sub_id]
        checks = check_endpoint(headers, raw, endpoint)
        against = {"subscription_id": sub_id, "profile": endpoint.profile}
        if not checks:
            raise ApiError(
                422, "this subscription adds no authentication headers to check", field="subscription_id"
            )
    return {
        "matched": all(c.matched for c in checks),
        "against": against,
        "checks": [dataclasses.asdict(c) for c in checks],
    }


@router.get("/bins/{bin_id}/stream", response_class=EventSourceResponse)
async def stream(
    bin_id: ResourceId, ctx: Context, who: CurrentPrincipal, since: datetime | None = None
) -> object:
    """Server-sent events: `request` (data: the captured request) for every capture from `since` (default:
    now) on; `expired` when the bin goes."""
    await _owned_bin(ctx, who, bin_id)
    return event_stream(ctx, bin_id, since)


@router.post("/bins/{bin_id}/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut)
async def stream_ticket(bin_id: ResourceId, request: Request, ctx: Context, who: CurrentPrincipal) -> object:
    """A one-minute ticket for the bin's public stream URL, for browsers (EventSource sends no headers)."""
    await _owned_bin(ctx, who, bin_id)
    ticket = make_ticket(ctx, bin_id)
    url = f"{_base(request)}/inspect/bins/{bin_id}/stream?ticket={ticket}"
    return {"ticket": ticket, "expires_in": TICKET_TTL, "stream_url": url}
