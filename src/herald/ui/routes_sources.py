"""Sources on the dashboard (admin): each source with its dead letters kept, this process's consumer
figures (events, duplicates, dead letters, errors, lag) and its latest dead letters with raw message and
reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY

from herald.api.errors import ApiError
from herald.api.routers.sources import _out as source_out
from herald.store import sources as source_store
from herald.ui.web import Ctx, CurrentUser, render

router = APIRouter()

LATEST = 10  # dead letters shown per source


def _figure(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _process_figures(source: str) -> dict[str, Any]:
    """What this process's consumer of the source counted (workers count their own: /metrics)."""
    out: dict[str, Any] = {
        outcome: _figure("herald_source_messages_total", {"source": source, "outcome": outcome})
        for outcome in ("event", "duplicate", "dead_letter")
    }
    out["errors"] = _figure("herald_source_errors_total", {"source": source})
    out["lag"] = _figure("herald_source_lag", {"source": source})
    return out


@router.get("/sources", include_in_schema=False)
async def sources(request: Request, ctx: Ctx, user: CurrentUser) -> Response:
    if not user.is_admin:
        raise ApiError(404, "There is no such page.")
    found, _ = await source_store.list_sources(ctx.db, ctx.box, 250, None)
    counts = await source_store.dead_letter_counts(ctx.db)
    rows = []
    for row in found:
        letters, _ = await source_store.list_dead_letters(ctx.db, row["id"], LATEST, None)
        rows.append(
            {
                **source_out(row),
                "target": row["target"],
                "dead_letter_count": counts.get(row["name"], 0),
                "figures": _process_figures(row["name"]),
                "dead_letters": letters,
            }
        )
    paused = _figure("herald_source_paused", {}) or 0
    return render(request, user, "sources.html", sources=rows, paused=paused > 0)
