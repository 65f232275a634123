"""Types shared by the routers."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from herald.api.errors import ApiError

ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
EVENT_TYPE_PATTERN = r"^[A-Za-z0-9_.:\-]+(\.\*)?$|^\*$"

NO_NUL = r"^[^\x00]*$"


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it for every backend alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text stored as-is: names, descriptions, URLs, keys.
Text = Annotated[str, AfterValidator(_no_nul)]


def _header_value(value: str) -> str:
    # Sent as an HTTP header on every delivery: CR/LF would split the request (header injection), other
    # controls and non-ASCII are refused or mangled by HTTP stacks, and edge spaces are stripped by them.
    if any(not " " <= c <= "~" for c in value):
        raise ValueError("must be printable ASCII, no CR, LF or other control characters (a header value)")
    if value != value.strip(" "):
        raise ValueError("must not start or end with a space (it is sent as a header)")
    return value


# A secret Herald sends as a header value (api-key keys, bearer tokens).
HeaderValue = Annotated[str, AfterValidator(_header_value)]

AccountId = Annotated[str, Path(pattern=ACCOUNT_PATTERN, description="The account (tenant) id")]
ResourceId = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=250, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]

EventType = Annotated[str, Field(min_length=1, max_length=255, pattern=EVENT_TYPE_PATTERN)]

QueryText = Annotated[str | None, Query(max_length=255, pattern=NO_NUL)]

T = TypeVar("T")


def reject_nulls(changes: dict[str, object], *required: str) -> None:
    """A PATCH may omit a required field, but not set it to null."""
    for key in required:
        if key in changes and changes[key] is None:
            raise ApiError(422, f"{key}: may not be null", field=key)


class Model(BaseModel):
    """Request bodies: unknown fields are an error, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class OutModel(BaseModel):
    """Responses: built from rows that may carry more columns than the API shows."""


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last")
