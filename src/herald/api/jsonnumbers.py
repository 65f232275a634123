"""Refuse JSON numbers a receiver cannot read: NaN, Infinity, -Infinity, numbers beyond double range
(`1e999`) and integers beyond 64 bits.

Python's json module (which FastAPI parses bodies with) accepts all of them; orjson would then write NaN
and Infinity as `null` and fail on the big integers. The check runs on every JSON request body before the
app sees it, so event data, filters and schemas obey one rule. It is cheap: a byte scan finds the tokens
that could be such a number, and only a body containing one is parsed a second time to name the field."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.responses import Response

from herald.api.errors import validation_response
from herald.api.mediatype import is_json

# Anything that may spell a non-finite or out-of-range number: the names, 3-digit exponents and long
# digit runs (19 digits reach 2**63). Strings containing these merely cost a second parse.
_SUSPECT = re.compile(rb"NaN|Infinity|[eE][+-]?\d{3}|\d{19}")
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1  # orjson writes unsigned 64-bit integers too


class _Unreadable:
    """A number that was refused, standing in its place until the walk finds its path."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text
        self.why = why


def _constant(text: str) -> _Unreadable:
    return _Unreadable(text, "NaN and Infinity are not JSON numbers most receivers can read")


def _float(text: str) -> float | _Unreadable:
    value = float(text)
    if math.isinf(value):
        return _Unreadable(text, "the number is outside the range of a double")
    return value


def _int(text: str) -> int | _Unreadable:
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        return _Unreadable(text, "the integer does not fit in 64 bits")
    return value


def _find(document: Any) -> tuple[list[str], _Unreadable] | None:
    """The first refused number in document order, with its path (iterative: documents may be deep)."""
    stack: list[tuple[list[str], Any]] = [([], document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Unreadable):
            return path, node
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        else:
            continue
        stack.extend(([*path, str(key)], value) for key, value in reversed(children))
    return None


def unreadable_number(body: bytes) -> tuple[str, str] | None:
    """(field path, reason) of the first number in a JSON body that receivers cannot read, if any."""
    if not _SUSPECT.search(body):
        return None
    try:
        document = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except (ValueError, RecursionError):  # not JSON (or too deep to read): the route answers that itself
        return None
    found = _find(document)
    if found is None:
        return None
    path, number = found
    return ".".join(path), f"{number.text}: {number.why}"


def refuse_nonfinite(content_type: bytes | None, body: bytes) -> Response | None:
    """The 422 answer for a JSON body holding an unreadable number; None when there is none."""
    if not is_json(content_type):
        return None
    found = unreadable_number(body)
    if found is None:
        return None
    field, message = found
    return validation_response(
        [{"field": field, "location": "body", "message": message, "code": "finite_number"}]
    )
