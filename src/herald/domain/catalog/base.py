"""What every catalog entry is: a named, versioned model of an event type's `data`, with a sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Family = Literal["liveperson-data", "liveperson-connector", "livechat"]
FAMILIES: tuple[Family, ...] = ("liveperson-data", "liveperson-connector", "livechat")


class Data(BaseModel):
    """Event data: strict types (no "5" for a Long), unknown keys kept (schemas only grow by ADDITION)."""

    model_config = ConfigDict(strict=True, extra="allow")


# Tags of callable discriminators: not part of the user's document, dropped from error paths.
HIDDEN_TAGS = frozenset({"one-change", "many-changes"})


@dataclass(frozen=True)
class EventTypeSpec:
    name: str
    family: Family
    model: type[BaseModel]
    description: str
    sample: dict[str, Any]
    schema_version: str = "1-0-0"  # MODEL-REVISION-ADDITION

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def errors(self, data: Any) -> list[dict[str, Any]]:
        """Every problem of `data` as {"field", "message", "code"}; empty when valid."""
        try:
            self.model.model_validate(data)
        except ValidationError as exc:
            return [
                {"field": error_path(e["loc"]), "message": e["msg"], "code": e["type"]}
                for e in exc.errors(include_url=False)
            ]
        return []


def error_path(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] in HIDDEN_TAGS:
        parts.pop(0)
    return ".".join(str(p) for p in parts)
