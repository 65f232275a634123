"""`herald listen` sessions: a temporary subscription whose deliveries the CLI forwards to a local URL.

The CLI opens a session, long-polls `GET .../requests` for rendered deliveries (each poll is also its
heartbeat), forwards each one and posts the local answer to `.../requests/{id}/response`; the dispatcher
records that answer as the attempt (see dispatch/relay.py). Closing the session removes its subscription.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.context import AppContext
from herald.api.errors import ApiError
from herald.api.schemas import ACCOUNT_PATTERN, EventType, Model, OutModel, ResourceId, Text
from herald.domain.models import ErrorKind
from herald.domain.scopes import CONFIGURATION_RW
from herald.store import listen as store

router = APIRouter(prefix="/v1/listen", tags=["herald listen"])

POLL = 0.05  # seconds between looks for pending requests during a long poll
MAX_WAIT = 25.0
MAX_ANSWER_BODY = 64 * 1024


class SessionIn(Model):
    account_id: str | None = Field(
        default=None,
        pattern=ACCOUNT_PATTERN,
        description="The account whose events to listen to (the admin must name one)",
    )
    event_types: list[EventType] = Field(default_factory=lambda: ["*"], min_length=1, max_length=200)
    profile: Literal["standard", "liveperson-connector"] = "standard"
    forward_to: Text | None = Field(default=None, max_length=2048, description="Shown only; the CLI forwards")


class SessionOut(OutModel):
    id: str
    account_id: str
    subscription_id: str
    event_types: list[str]
    profile: str
    secret: str | None = Field(description="The subscription's signing secret, to check locally (shown once)")
    created_at: datetime


class RelayedOut(OutModel):
    id: str
    headers: dict[str, str]
    body: str = Field(description="base64 of the exact body bytes Herald signed")
    created_at: datetime


class RelayedPage(OutModel):
    data: list[RelayedOut]


class AnswerIn(Model):
    status_code: int | None = Field(default=None, ge=100, le=599, description="The local endpoint's status")
    headers: dict[str, Annotated[str, Field(max_length=4096)]] = Field(default_factory=dict, max_length=100)
    body: str = Field(default="", max_length=4 * MAX_ANSWER_BODY // 3 + 4, description="base64")
    error_kind: ErrorKind | None = Field(default=None, description="No answer: why (refused, read_timeout…)")
    error_message: Text | None = Field(default=None, max_length=500)


def _account_caller(who: Principal) -> None:
    if who.kind == "application":
        raise ApiError(
            403, "herald listen sessions belong to accounts: use the admin token or a personal access token"
        )
    who.require(CONFIGURATION_RW)


async def _owned_session(ctx: AppContext, who: Principal, session_id: str) -> dict[str, Any]:
    _account_caller(who)
    session = await store.get_session(ctx.db, session_id)
    if not await who.sees_account(session["account_id"]):
        raise ApiError(404, "listen session not found", field="session_id")
    return session


@router.post("/sessions", status_code=status.HTTP_201_CREATED, response_model=SessionOut)
async def create_session(body: SessionIn, ctx: Context, who: CurrentPrincipal) -> object:
    _account_caller(who)
    account_id = body.account_id or who.account_id
    if account_id is None:
        raise ApiError(422, "account_id: the admin must name the account to listen to", field="account_id")
    await who.require_account(account_id)
    return await store.create_session(
        ctx.db, ctx.box, account_id, body.event_types, body.profile, body.forward_to
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def close_session(session_id: ResourceId, ctx: Context, who: CurrentPrincipal) -> Response:
    session = await _owned_session(ctx, who, session_id)
    await store.delete_session(ctx.db, session_id)
    ctx.subscription_changed(session["subscription_id"])
    return Response(status_code=204)


@router.get("/sessions/{session_id}/requests", response_model=RelayedPage)
async def poll_requests(
    session_id: ResourceId,
    request: Request,
    ctx: Context,
    who: CurrentPrincipal,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="Seconds to wait for a request")] = 20.0,
) -> object:
    """Long poll: the deliveries waiting for this session (each handed out once), or none after `wait`
    seconds. Every poll keeps the session alive."""
    await _owned_session(ctx, who, session_id)
    await store.touch(ctx.db, session_id)
    now = time.monotonic()
    deadline, touched = now + wait, now
    heartbeat = ctx.settings.listen_session_ttl / 3  # a long poll must not outlive its own session
    while True:
        if await request.is_disconnected():  # the CLI went away: stop keeping its session alive
            return {"data": []}
        if time.monotonic() - touched >= heartbeat:
            await store.touch(ctx.db, session_id)
            touched = time.monotonic()
        if await store.has_pending(ctx.db, session_id):
            rows = await store.claim_pending(ctx.db, session_id)
            if rows:
                return {"data": [{**r, "body": base64.b64encode(bytes(r["body"])).decode()} for r in rows]}
        if time.monotonic() >= deadline:
            return {"data": []}
        await asyncio.sleep(POLL)


@router.post("/sessions/{session_id}/requests/{request_id}/response", status_code=status.HTTP_204_NO_CONTENT)
async def answer_request(
    session_id: ResourceId, request_id: ResourceId, body: AnswerIn, ctx: Context, who: CurrentPrincipal
) -> Response:
    """The local endpoint's answer (status, headers, base64 body), or why there was none."""
    await _owned_session(ctx, who, session_id)
    if (body.status_code is None) == (body.error_kind is None):
        raise ApiError(422, "status_code: give a status_code or an error_kind", field="status_code")
    try:
        raw = base64.b64decode(body.body, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "body: must be base64", field="body") from None
    answer = store.Answer(
        body.status_code,
        {k.lower(): v for k, v in body.headers.items()},
        raw[:MAX_ANSWER_BODY],
        body.error_kind.value if body.error_kind else None,
        body.error_message,
    )
    await store.answer(ctx.db, session_id, request_id, answer)
    return Response(status_code=204)
