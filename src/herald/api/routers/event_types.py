"""The built-in event catalog: which event types Herald knows, their schema version, JSON Schema and sample.

Any authenticated caller may read it. Types not listed are custom: their data is any JSON object.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field

from herald.api.auth import CurrentPrincipal
from herald.api.errors import ApiError
from herald.api.schemas import OutModel
from herald.domain.catalog import CATALOG, EventTypeSpec, Family

router = APIRouter(prefix="/v1/event-types", tags=["event-types"])


class EventTypeOut(OutModel):
    name: str
    family: Family
    schema_version: str = Field(description="MODEL-REVISION-ADDITION (e.g. 1-0-0)")
    description: str


class EventTypeDetailOut(EventTypeOut):
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of the event's data")
    sample: dict[str, Any] = Field(description="A data payload that validates")


class EventTypeListOut(OutModel):
    data: list[EventTypeOut]


def _summary(spec: EventTypeSpec) -> EventTypeOut:
    return EventTypeOut(
        name=spec.name, family=spec.family, schema_version=spec.schema_version, description=spec.description
    )


@router.get("", response_model=EventTypeListOut)
async def list_event_types(
    who: CurrentPrincipal,
    family: Annotated[Family | None, Query(description="Only this family")] = None,
) -> EventTypeListOut:
    specs = (s for s in CATALOG.values() if family is None or s.family == family)
    return EventTypeListOut(data=[_summary(s) for s in specs])


@router.get("/{name}", response_model=EventTypeDetailOut, response_model_by_alias=True)
async def get_event_type(
    name: Annotated[str, Path(max_length=255)], who: CurrentPrincipal
) -> EventTypeDetailOut:
    spec = CATALOG.get(name)
    if spec is None:
        raise ApiError(404, f"event type {name!r} is not built in", field="name")
    return EventTypeDetailOut(**_summary(spec).model_dump(), schema=spec.json_schema(), sample=spec.sample)
