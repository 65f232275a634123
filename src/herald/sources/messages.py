"""One bus message → one event, or the reason it is poison. Pure: no I/O."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import orjson

from herald.sources.spec import SourceSpec
from herald.store.publish import NewEvent

# The same rules as the HTTP API's (herald.api.schemas, herald.api.routers.events).
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
TYPE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,255}$")
ID_RE = re.compile(r"^[^\s\x00]{1,255}$")
RAW_LIMIT = 64 * 1024  # bytes of a poison message kept in its dead letter


@dataclass(frozen=True, slots=True)
class Message:
    """A message as fetched: its id on the bus (stable across redeliveries) and its body."""

    id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Parsed:
    account: str
    event: NewEvent


class Poison(Exception):
    """The message can never become an event; it goes to the dead letters with this reason."""


def dotted(obj: Any, path: str) -> Any:
    """The value at a dotted path (`meta.type`) of a JSON object, or None."""
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        return str(value)
    return None


def parse(spec: SourceSpec, message: Message, now: float | None = None) -> Parsed:
    try:
        doc = orjson.loads(message.body)
    except orjson.JSONDecodeError as exc:
        raise Poison(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Poison("not a JSON object")
    event_type = dotted(doc, spec.type_field)
    if not isinstance(event_type, str) or not TYPE_RE.match(event_type):
        raise Poison(f"missing type: {spec.type_field} must be an event type string")
    account = spec.account or _scalar(dotted(doc, spec.account_field or "account"))
    if account is None or not ACCOUNT_RE.match(account):
        raise Poison(f"unknown account: {spec.account_field} must name an account id")
    data = dotted(doc, spec.data_field)
    if not isinstance(data, dict):
        raise Poison(f"missing data: {spec.data_field} must be a JSON object")
    # The producer's id makes a re-sent message idempotent; else the bus id (stable across redelivery).
    event_id = _scalar(dotted(doc, spec.id_field)) or f"{spec.id}:{message.id}"
    if not ID_RE.match(event_id):
        raise Poison(f"bad id: {spec.id_field} must be 1-255 characters without spaces")
    key = _scalar(dotted(doc, spec.ordering_key_field))
    if key is not None and not 1 <= len(key) <= 255:
        raise Poison(f"bad ordering key: {spec.ordering_key_field} must be 1-255 characters")
    return Parsed(
        account=account,
        event=NewEvent(
            id=event_id,
            type=event_type,
            timestamp=time.time() if now is None else now,
            data=orjson.dumps(data).decode(),
            ordering_key=key,
        ),
    )


def raw_text(body: bytes) -> str:
    """What a dead letter keeps of a message: its text, bounded, NULs dropped (PostgreSQL text)."""
    return body[:RAW_LIMIT].decode("utf-8", "replace").replace("\x00", "\ufffd")
