"""Which subscriptions want an event: exact type names, `*`, or a `prefix.*` family."""

from __future__ import annotations

from collections.abc import Iterable


def type_matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == event_type or pattern == "*":
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
