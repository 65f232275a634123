"""The built-in event catalog: a model of each known event type's `data`, its schema version and a sample.

Types not in the catalog are custom: Herald accepts any JSON object as their data.
"""

from __future__ import annotations

from typing import Any

from herald.domain.catalog import livechat, liveperson_connector, liveperson_data
from herald.domain.catalog.base import FAMILIES, EventTypeSpec, Family

__all__ = ["CATALOG", "FAMILIES", "EventTypeSpec", "Family", "get", "schema_version", "validate_event_data"]

CATALOG: dict[str, EventTypeSpec] = {
    spec.name: spec for spec in (*liveperson_data.SPECS, *liveperson_connector.SPECS, *livechat.SPECS)
}

DEFAULT_SCHEMA_VERSION = "1-0-0"


def get(name: str) -> EventTypeSpec | None:
    return CATALOG.get(name)


def schema_version(event_type: str) -> str:
    """MODEL-REVISION-ADDITION of a built-in type; "1-0-0" for any other."""
    spec = CATALOG.get(event_type)
    return spec.schema_version if spec else DEFAULT_SCHEMA_VERSION


def validate_event_data(event_type: str, data: Any) -> list[dict[str, Any]]:
    """The problems of `data` for a built-in type, as {"field", "message", "code"} (field relative to
    data, "" for data itself); always empty for custom types."""
    spec = CATALOG.get(event_type)
    return spec.errors(data) if spec else []
