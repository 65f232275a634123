"""Payload filters for subscriptions: a Mongo/Convoy-like JSON filter over an event's data.

Syntax (the top level and every element of `$and`/`$or`, and the operand of `$not`, is a filter object):

    {"convDetails.convId": "c1"}                  implicit $eq on a dotted path
    {"amount": {"$gt": 5, "$lte": 10}}            several operators on one path: all must hold
    {"$or": [{...}, {...}]}, {"$and": [...]}, {"$not": {...}}
    {"tags": {"$in": ["a", "b"]}}, {"x": {"$exists": false}}, {"name": {"$regex": "^ab"}}

Field operators: `$eq $neq $in $nin $gt $gte $lt $lte $exists $regex`. Several keys in one object are
ANDed. Paths are dotted; a segment that is all digits indexes into a list (`items.0.sku`).

Semantics:
- Comparisons only between like types: numbers with numbers (booleans are not numbers), strings with
  strings. Anything else is "no match", never an exception. Equality is type-strict and deep
  (`1` does not equal `true`; `1` equals `1.0`).
- A missing path matches nothing except `$neq`, `$nin` and `$exists: false` (as in MongoDB).
- `$in`/`$nin` on a list value test whether any element is among the operand's values.
- `$regex` applies to string values only (search, not full match).

Bounded cost: at most 50 conditions, nesting depth 8, 20 values per `$in`/`$nin`, 256 characters per path
and per pattern. Regular expressions run on RE2 (the `google-re2` package), whose matching time is linear
in the input: there is no catastrophic backtracking, and patterns RE2 cannot run in linear time
(backreferences, lookarounds) are rejected at validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import re2

MAX_CONDITIONS = 50
MAX_DEPTH = 8
MAX_IN_VALUES = 20
MAX_PATH_CHARS = 256
MAX_PATTERN_CHARS = 256
MAX_REGEX_MEMORY = 1 << 20  # bytes RE2 may use for one compiled pattern

FIELD_OPERATORS = ("$eq", "$neq", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$regex")
LOGICAL_OPERATORS = ("$and", "$or", "$not")


class FilterError(ValueError):
    """An invalid filter; `path` locates the offending part, e.g. `filter.$and.1.amount.$gt`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

Predicate = Callable[[Any], bool]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_json(v: Any) -> bool:
    if v is None or isinstance(v, str | bool):
        return True
    if _is_number(v):
        return not (isinstance(v, float) and not math.isfinite(v))
    if isinstance(v, list):
        return all(_is_json(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_json(x) for k, x in v.items())
    return False


def json_equal(a: Any, b: Any) -> bool:
    """Type-strict deep equality of JSON values: booleans are not numbers, 1 == 1.0."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return False


def _ordered(op: str, a: Any, b: Any) -> bool:
    """`a op b` when both are numbers or both strings; otherwise no match."""
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "$gt":
        return bool(a > b)
    if op == "$gte":
        return bool(a >= b)
    if op == "$lt":
        return bool(a < b)
    return bool(a <= b)


def resolve(data: Any, segments: tuple[str, ...]) -> Any:
    """The value at a dotted path, or MISSING."""
    current = data
    for seg in segments:
        if isinstance(current, dict):
            if seg not in current:
                return MISSING
            current = current[seg]
        elif isinstance(current, list) and seg.isdigit():
            index = int(seg)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def _among(value: Any, options: list[Any]) -> bool:
    if value is MISSING:
        return False
    candidates = value if isinstance(value, list) else [value]
    return any(json_equal(c, o) for c in candidates for o in options) or (
        isinstance(value, list) and any(json_equal(value, o) for o in options)
    )


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled filter. `spec` is the filter as given."""

    spec: dict[str, Any]
    _predicate: Predicate

    def matches(self, data: Any) -> bool:
        try:
            return self._predicate(data)
        except (TypeError, ValueError, RecursionError):  # defensive: a filter never breaks a publish
            return False


class _Compiler:
    def __init__(self) -> None:
        self.conditions = 0

    def count(self, path: str) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(path, f"too many conditions (at most {MAX_CONDITIONS})")

    def node(self, spec: Any, path: str, depth: int) -> Predicate:
        if depth > MAX_DEPTH:
            raise FilterError(path, f"nested too deeply (at most {MAX_DEPTH} levels)")
        if not isinstance(spec, dict):
            raise FilterError(path, "must be an object")
        if not spec:
            raise FilterError(path, "must not be empty")
        parts: list[Predicate] = []
        for key, value in spec.items():
            here = f"{path}.{key}"
            if not isinstance(key, str) or not key:
                raise FilterError(here, "keys must be non-empty strings")
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    raise FilterError(here, "must be a non-empty list of filter objects")
                subs = [self.node(v, f"{here}.{i}", depth + 1) for i, v in enumerate(value)]
                parts.append(_all(subs) if key == "$and" else _any(subs))
            elif key == "$not":
                parts.append(_negate(self.node(value, here, depth + 1)))
            elif key.startswith("$"):
                raise FilterError(here, f"unknown operator {key} (expected a path or one of $and $or $not)")
            else:
                parts.append(self.field(key, value, here))
        return parts[0] if len(parts) == 1 else _all(parts)

    def field(self, key: str, value: Any, path: str) -> Predicate:
        if len(key) > MAX_PATH_CHARS:
            raise FilterError(path, f"path longer than {MAX_PATH_CHARS} characters")
        segments = tuple(key.split("."))
        if any(not s for s in segments):
            raise FilterError(path, "path has an empty segment")
        if isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value):
            if not all(isinstance(k, str) and k.startswith("$") for k in value):
                raise FilterError(path, "cannot mix operators and plain keys; use $eq for an object value")
            preds = [self.operator(op, operand, f"{path}.{op}") for op, operand in value.items()]
        else:
            preds = [self.operator("$eq", value, path)]

        def check(data: Any) -> bool:
            found = resolve(data, segments)
            return all(p(found) for p in preds)

        return check

    def operator(self, op: str, operand: Any, path: str) -> Predicate:
        self.count(path)
        if op in ("$eq", "$neq"):
            if not _is_json(operand):
                raise FilterError(path, "must be a JSON value")
            if op == "$eq":
                return lambda v: v is not MISSING and json_equal(v, operand)
            return lambda v: v is MISSING or not json_equal(v, operand)
        if op in ("$in", "$nin"):
            if not isinstance(operand, list) or not _is_json(operand):
                raise FilterError(path, "must be a list of JSON values")
            if len(operand) > MAX_IN_VALUES:
                raise FilterError(path, f"too many values (at most {MAX_IN_VALUES})")
            options = list(operand)
            if op == "$in":
                return lambda v: _among(v, options)
            return lambda v: not _among(v, options)
        if op in ("$gt", "$gte", "$lt", "$lte"):
            if not (isinstance(operand, str) or (_is_number(operand) and _is_json(operand))):
                raise FilterError(path, "must be a number or a string")
            return lambda v: _ordered(op, v, operand)
        if op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(path, "must be true or false")
            return lambda v: (v is not MISSING) is operand
        if op == "$regex":
            return _regex(operand, path)
        raise FilterError(path, f"unknown operator {op} (expected one of {' '.join(FIELD_OPERATORS)})")


def _regex(pattern: Any, path: str) -> Predicate:
    if not isinstance(pattern, str):
        raise FilterError(path, "must be a string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise FilterError(path, f"pattern longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_REGEX_MEMORY
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise FilterError(path, f"invalid or unsupported regular expression ({detail})") from None
    return lambda v: isinstance(v, str) and compiled.search(v) is not None


def _negate(pred: Predicate) -> Predicate:
    return lambda data: not pred(data)


def _all(preds: list[Predicate]) -> Predicate:
    return lambda data: all(p(data) for p in preds)


def _any(preds: list[Predicate]) -> Predicate:
    return lambda data: any(p(data) for p in preds)


def compile_filter(spec: Mapping[str, Any], root: str = "filter") -> Filter:
    """Validate and compile a filter; raises FilterError naming the path inside it (rooted at `root`)."""
    if not isinstance(spec, Mapping):
        raise FilterError(root, "must be an object")
    as_dict = dict(spec)
    return Filter(as_dict, _Compiler().node(as_dict, root, 1))
