"""Liveness/readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from herald import __version__, metrics
from herald.api.auth import Context
from herald.sources import metrics as source_metrics
from herald.store import queue

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(ctx: Context) -> JSONResponse:
    try:
        async with ctx.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"error: {type(exc).__name__}", "version": __version__},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(ctx: Context) -> Response:
    with contextlib.suppress(Exception):  # the rest of the metrics are still worth serving
        metrics.QUEUE_DEPTH.set(await queue.depth(ctx.db))
    with contextlib.suppress(Exception):
        await source_metrics.refresh(ctx.db)  # per-source dead letters, whichever process consumed
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
