"""Access-token scopes (LiveChat's names where LiveChat has one) and what each implies."""

from __future__ import annotations

from collections.abc import Iterable

CONFIGURATION_RW = "webhooks.configuration:rw"
STATE_RW = "webhooks.state:rw"
STATE_RO = "webhooks.state:ro"
EVENTS_PUBLISH = "events:publish"
DELIVERIES_READ = "deliveries:read"
DELIVERIES_RW = "deliveries:rw"  # resend (and everything deliveries:read allows)

ALL_SCOPES: tuple[str, ...] = (
    CONFIGURATION_RW,
    STATE_RW,
    STATE_RO,
    EVENTS_PUBLISH,
    DELIVERIES_READ,
    DELIVERIES_RW,
)

# A scope grants itself and the scopes listed here.
IMPLIES: dict[str, frozenset[str]] = {
    STATE_RW: frozenset({STATE_RO}),
    DELIVERIES_RW: frozenset({DELIVERIES_READ}),
}


class UnknownScope(ValueError):
    def __init__(self, scope: str) -> None:
        super().__init__(f"unknown scope {scope!r}; known scopes: {', '.join(ALL_SCOPES)}")
        self.scope = scope


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes granted, implied ones included."""
    out: set[str] = set()
    for scope in scopes:
        out.add(scope)
        out.update(IMPLIES.get(scope, ()))
    return frozenset(out)


def parse(raw: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A space-separated OAuth `scope` string (or a list) → known scopes in a stable order; None when
    nothing was asked. Raises UnknownScope."""
    if raw is None:
        return None
    items = raw.split() if isinstance(raw, str) else list(raw)
    if not items:
        return None
    for item in items:
        if item not in ALL_SCOPES:
            raise UnknownScope(item)
    return tuple(s for s in ALL_SCOPES if s in items)
