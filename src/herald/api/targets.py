"""Every URL Herald will dial, checked at creation the way the transport checks it at delivery.

`TargetUrl` (a pydantic type) stores the canonical form or answers 422 naming the field; `guard_target`
adds what depends on the deployment: plain http allowed or not, and an address literal the guard refuses.
Names are not resolved here (an answer now says nothing about delivery time); the transport vets them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from herald.api.errors import ApiError
from herald.api.schemas import Text
from herald.dispatch.guard import AddressRefused, BlockedTarget, PlainHttpRefused, admit
from herald.domain.urls import UrlError, canonical_text

ALLOW_HINT = "set HERALD_ALLOW_SUBNETS (or HERALD_ALLOW_PRIVATE_TARGETS) to permit it"


def valid_url(value: str) -> str:
    """The canonical form of a URL field, or a validation error a person can read."""
    try:
        return canonical_text(value)
    except UrlError as exc:
        raise PydanticCustomError("url", "{reason}", {"reason": str(exc)}) from None


TargetUrl = Annotated[Text, Field(min_length=1, max_length=2048), AfterValidator(valid_url)]


def guard_target(ctx: Any, url: str | None, field: str = "url") -> None:
    """422 naming `field` when this deployment would refuse to deliver to `url` (already canonical)."""
    if url is None:
        return
    try:
        admit(url, ctx.guard, ctx.settings.http_allowed)
    except PlainHttpRefused:
        message = "plain http:// is not allowed; use https:// (or set HERALD_ALLOW_HTTP)"
        raise ApiError(422, f"{field}: {message}", field=field) from None
    except AddressRefused as exc:
        raise ApiError(422, f"{field}: {exc}; {ALLOW_HINT}", field=field) from None
    except BlockedTarget as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None
