"""Routing: which subscriptions get an event, and with what policy. Pure; one decision for publish and
replay (herald.store.routing reads the rows, herald.store.enqueue writes what this decides).

For each (subscription, account) pair the store reads a `Subscribed` row; `route` turns it into a `Route`:
- **retry**: the subscription's `max_retries`, else its installation's; a LiveChat webhook keeps its
  profile's policy (an installation's retry settings are LivePerson's);
- **retention** (retry by time to live): only the LivePerson Connector profile has one: the
  subscription's own `retention_time`, else its installation's;
- **ordering**: `ordered`, or any time to live (LivePerson orders per conversation);
- **holds**: only an installation's time to live runs the state machine (herald.domain.ttl), whose state
  decides whether a new event is held (`due_at`).
`fan_out` then matches events to routes (event types, payload filter, LiveChat filters) and builds the
new deliveries. The LiveChat per-license switch and enabled installations are decided by which rows the
store reads (herald.store.routing), for publish and replay alike.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from herald.domain import livechat
from herald.domain.filters import Filter, FilterError, compile_filter
from herald.domain.matching import type_matches
from herald.domain.models import NewDelivery
from herald.domain.ttl import HELD_AT, TTL_PROFILE, State, publish_delay
from herald.ids import new_id

log = logging.getLogger(__name__)


class Subscribed(NamedTuple):
    """One subscription as it delivers for one account, read by column name (herald.store.routing)."""

    account_id: str
    id: str
    event_types: list[str]
    ordered: bool
    max_retries: int | None
    retention_time: int | None  # the subscription's own
    profile: str
    filter: Any  # the stored payload filter (JSON) or None
    livechat: Any  # a LiveChat webhook's stored options, or None
    installation_id: str | None  # the installation it delivers through (application subscriptions)
    installation_max_retries: int | None
    installation_retention_time: int | None
    installation_state: str | None


@dataclass(frozen=True, slots=True)
class LiveChatRoute:
    filters: dict[str, Any]
    owner_client_id: str
    kind: str = "license"  # or "bot": only the chats a bot of owner_client_id takes part in

    def matches(self, ctx: livechat.EventContext | None) -> bool:
        return ctx is not None and livechat.matches(self.filters, self.owner_client_id, ctx, self.kind)


@dataclass(frozen=True, slots=True)
class Route:
    account_id: str
    subscription_id: str
    event_types: list[str]
    ordered: bool
    max_retries: int | None
    retention_time: int | None
    filter: Filter | None = None  # over the event's data; None = every event of a matching type
    # LivePerson Connector with a time to live: ordered per conversation; and when the TTL is its
    # installation's, that installation's state decides whether events are held.
    ttl: bool = False
    installation_id: str | None = None
    state: State = State.UP
    livechat: LiveChatRoute | None = None  # a LiveChat webhook's filters

    @property
    def keeps_order(self) -> bool:
        return self.ordered or self.ttl


def compiled(subscription_id: str, spec: Any) -> Filter | None:
    """A stored filter, compiled. One that no longer validates matches nothing (fails closed)."""
    if spec is None:
        return None
    try:
        return compile_filter(spec)
    except FilterError as exc:
        log.warning("subscription %s has an invalid filter, matching nothing: %s", subscription_id, exc)
        return Filter(spec if isinstance(spec, dict) else {}, lambda _data: False)


def _livechat_route(options: Any) -> LiveChatRoute | None:
    if not isinstance(options, dict):
        return None
    return LiveChatRoute(
        options.get("filters") or {},
        str(options.get("owner_client_id", "")),
        str(options.get("type", "license")),
    )


def route(s: Subscribed) -> Route:
    """The policy of one subscription in one account (see the module docstring)."""
    connector = s.profile == TTL_PROFILE
    own = s.retention_time if connector else None
    inst_ttl = connector and s.installation_retention_time is not None
    if s.livechat is not None:
        max_retries, retention_time = s.max_retries, None
    else:
        max_retries = s.max_retries if s.max_retries is not None else s.installation_max_retries
        retention_time = own if own is not None else s.installation_retention_time
    return Route(
        account_id=s.account_id,
        subscription_id=s.id,
        event_types=s.event_types,
        ordered=s.ordered,
        max_retries=max_retries,
        retention_time=retention_time,
        filter=compiled(s.id, s.filter),
        livechat=_livechat_route(s.livechat),
        ttl=own is not None or inst_ttl,
        installation_id=s.installation_id if inst_ttl else None,
        state=State(s.installation_state) if inst_ttl and s.installation_state else State.UP,
    )


def parse(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


class Routed(NamedTuple):
    """An event to route: published now, or read back from the store by a replay."""

    account_id: str
    id: str
    type: str
    data: str  # JSON text
    ordering_key: str | None
    context: livechat.EventContext | None  # LiveChat actions only


def recovered_installations(routes: Iterable[Route]) -> set[str]:
    """Installations whose drain conversations `fan_out` needs (RECOVERED ones: rare)."""
    return {r.installation_id for r in routes if r.state is State.RECOVERED and r.installation_id}


def due_at(
    r: Route, ordering_key: str | None, now: float, draining: Collection[tuple[str, str | None]]
) -> float:
    """When a new delivery of the route is first due: now, unless its TTL installation holds it."""
    if r.installation_id is None or r.state is State.UP:
        return now
    delay = publish_delay(r.state, (r.installation_id, ordering_key) in draining)
    return HELD_AT if delay is None else now + delay


def fan_out(
    routes: Mapping[str, Sequence[Route]],
    events: Sequence[Routed],
    now: float,
    draining: Collection[tuple[str, str | None]] = (),
    replay_of: str | None = None,
) -> list[NewDelivery]:
    """The deliveries the events get: each event (in order) to every route of its account it matches.
    `draining`: the (installation, conversation) pairs in a RECOVERED installation's drain period."""
    # Each event's data is parsed once, and only when some route has a filter.
    filtered = any(r.filter is not None for rs in routes.values() for r in rs)
    parsed = {(ev.account_id, ev.id): parse(ev.data) for ev in events} if filtered else {}
    return [
        NewDelivery(
            new_id("dlv"),
            ev.account_id,
            ev.id,
            ev.type,
            r.subscription_id,
            ev.ordering_key if r.keeps_order else None,
            r.max_retries,
            r.retention_time,
            due_at(r, ev.ordering_key, now, draining),
            replay_of,
        )
        for ev in events
        for r in routes.get(ev.account_id, ())
        if type_matches(r.event_types, ev.type)
        and (r.filter is None or r.filter.matches(parsed[ev.account_id, ev.id]))
        and (r.livechat is None or r.livechat.matches(ev.context))
    ]


def context_of(event_type: str, data: str, given: Mapping[str, Any] | None) -> livechat.EventContext | None:
    """A LiveChat action's context at publish (None for any other event type)."""
    if event_type not in livechat.ACTION_FILTERS:
        return None
    return livechat.event_context(event_type, parse(data), given)


def restored_context(event_type: str, data: str, saved: str | None) -> livechat.EventContext | None:
    """The context publish matched on, for a replay of a stored event (see livechat.saved_context)."""
    if event_type not in livechat.ACTION_FILTERS:
        return None
    kept = parse(saved) if saved is not None else None
    return livechat.restored_context(event_type, parse(data), kept if isinstance(kept, dict) else None)
