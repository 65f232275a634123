"""The inspector's public routes (no token): the capture URL, the HTML pages, and the pages' live stream
(authenticated by a ticket). Hidden from the OpenAPI document; see tests/e2e/test_auth.py for why they sit
outside the cross-tenant walk."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from herald.api import inspect_page
from herald.api.auth import Context, client_address
from herald.api.errors import ApiError
from herald.api.inspect_live import event_stream, ticket_valid
from herald.api.routers.inspect import MAX_DELAY
from herald.api.schemas import ResourceId
from herald.store import inspect as store
from herald.store.errors import NotFound
from herald.store.inspect import Capture

router = APIRouter(tags=["inspector"], include_in_schema=False)

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _not_found(bin_id: str) -> ApiError:
    return ApiError(404, "bin not found", field="bin_id")


@router.api_route("/inspect/bins/{bin_id}/hook", methods=ANY_METHOD)
@router.api_route("/inspect/bins/{bin_id}/hook/{subpath:path}", methods=ANY_METHOD)
async def capture(bin_id: ResourceId, request: Request, ctx: Context, subpath: str = "") -> Response:
    """The capture URL: public (it is handed to whoever sends the webhooks), unguessable (the bin id)."""
    try:
        row = await store.get_bin(ctx.db, bin_id)
    except NotFound:
        raise _not_found(bin_id) from None
    s = ctx.settings
    body = await request.body()
    await store.capture(
        ctx.db,
        bin_id,
        Capture(
            method=request.method,
            path="/" + subpath,
            query=request.url.query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=body,
            source=client_address(request),
        ),
        s.inspect_max_body,
        s.inspect_max_requests,
    )
    if row["response_delay"]:
        await asyncio.sleep(min(float(row["response_delay"]), MAX_DELAY))
    headers = dict(row["response_headers"])
    media_type = headers.pop("content-type", "text/plain; charset=utf-8")
    return Response(row["response_body"], row["response_status"], headers=headers, media_type=media_type)


@router.get("/inspect/bins/{bin_id}/stream")
async def public_stream(
    bin_id: ResourceId,
    ctx: Context,
    ticket: Annotated[str, Query(max_length=200)],
    since: datetime | None = None,
) -> object:
    """The live stream for the HTML page, authenticated by a ticket (POST /v1/inspect/bins/{id}/tickets)."""
    if not ticket_valid(ctx, bin_id, ticket):
        raise ApiError(401, "the stream ticket is invalid or expired; ask for a new one")
    try:
        await store.get_bin(ctx.db, bin_id)
    except NotFound:
        raise _not_found(bin_id) from None
    return event_stream(ctx, bin_id, since)


@router.get("/inspect", response_class=HTMLResponse)
async def index_page() -> HTMLResponse:
    return HTMLResponse(inspect_page.INDEX, headers=inspect_page.HEADERS)


@router.get("/inspect/bins/{bin_id}", response_class=HTMLResponse)
async def bin_page(bin_id: ResourceId) -> HTMLResponse:
    """The page holds no data: it asks for a token and reads the API, so knowing the capture URL is not
    enough to read what it captured."""
    return HTMLResponse(inspect_page.bin_page(bin_id), headers=inspect_page.HEADERS)
