"""The event catalog: the built-in event types (schema version, JSON Schema, sample) and the custom ones the
admin registered with a versioned JSON Schema.

Any authenticated caller may read it; only the admin registers or deletes. Types not listed are custom: their
data is any JSON object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal
from herald.api.schemas import Model, OutModel
from herald.domain.catalog import CATALOG, EventTypeSpec, Family
from herald.store import event_types as store

CUSTOM = "custom"
ListFamily = Family | Literal["custom"]

router = APIRouter(prefix="/v1/event-types", tags=["event-types"])


class EventTypeOut(OutModel):
    name: str
    family: ListFamily
    schema_version: str = Field(description="MODEL-REVISION-ADDITION (e.g. 1-0-0)")
    description: str


class EventTypeDetailOut(EventTypeOut):
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the event's data")
    sample: dict[str, Any] = Field(description="A data payload that validates")


class CustomEventTypeDetailOut(EventTypeOut):
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema (Draft 2020-12) of the data")
    versions: list[str] = Field(description="Every registered version, oldest first")
    created_at: datetime = Field(
        description="When this version was registered (ISO 8601, like every resource)"
    )


class EventTypeListOut(OutModel):
    data: list[EventTypeOut]


class CustomEventTypeIn(Model):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:\-]+$")
    # No length bound below: the store's check names the format (`not MODEL-REVISION-ADDITION (e.g. 1-0-0)`).
    version: str = Field(max_length=40, description="MODEL-REVISION-ADDITION (e.g. 1-0-0)")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema (Draft 2020-12), at most 64 KiB")
    description: str = Field(default="", max_length=2000)


def _custom(row: dict[str, Any], versions: list[str]) -> CustomEventTypeDetailOut:
    return CustomEventTypeDetailOut(
        name=row["name"],
        family=CUSTOM,
        schema_version=row["version"],
        description=row["description"],
        schema=row["schema"],
        versions=versions,
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )


def _summary(spec: EventTypeSpec) -> EventTypeOut:
    return EventTypeOut(
        name=spec.name, family=spec.family, schema_version=spec.schema_version, description=spec.description
    )


@router.get("", response_model=EventTypeListOut)
async def list_event_types(
    who: CurrentPrincipal,
    ctx: Context,
    family: Annotated[ListFamily | None, Query(description="Only this family")] = None,
) -> EventTypeListOut:
    specs = (s for s in CATALOG.values() if family is None or s.family == family)
    out = [_summary(s) for s in specs]
    if family is None or family == CUSTOM:
        for row in await store.list_latest(ctx.db):
            out.append(
                EventTypeOut(
                    name=row["name"],
                    family=CUSTOM,
                    schema_version=row["version"],
                    description=row["description"],
                )
            )
    return EventTypeListOut(data=out)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomEventTypeDetailOut,
    response_model_by_alias=True,
)
async def register_event_type(
    body: CustomEventTypeIn, who: CurrentPrincipal, ctx: Context
) -> CustomEventTypeDetailOut:
    """Register a custom event type, or a new (greater) version of one: publish then validates its data."""
    who.require_admin()
    row = await store.register(ctx.db, body.name, body.version, body.schema_, body.description)
    detail = await store.get_latest(ctx.db, body.name)
    return _custom(row, detail["versions"])


@router.get(
    "/{name}",
    response_model=EventTypeDetailOut | CustomEventTypeDetailOut,
    response_model_by_alias=True,
)
async def get_event_type(
    name: Annotated[str, Path(max_length=255)], who: CurrentPrincipal, ctx: Context
) -> EventTypeDetailOut | CustomEventTypeDetailOut:
    spec = CATALOG.get(name)
    if spec is None:
        latest = await store.get_latest(ctx.db, name)
        return _custom(latest, latest["versions"])
    return EventTypeDetailOut(**_summary(spec).model_dump(), schema=spec.json_schema(), sample=spec.sample)


@router.delete("/{name}/versions/{version}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event_type_version(
    name: Annotated[str, Path(max_length=255)],
    version: Annotated[str, Path(max_length=40)],
    who: CurrentPrincipal,
    ctx: Context,
) -> Response:
    """Delete one version; the previous one becomes the latest (none left: the type is unregistered)."""
    who.require_admin()
    await store.delete_version(ctx.db, name, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
