"""`GET /`: a newcomer typing the bare address lands on the dashboard (or the API reference without it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from herald.api.auth import Context

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root(ctx: Context) -> RedirectResponse:
    return RedirectResponse("/ui/" if ctx.settings.dashboard else "/docs", status_code=307)
