"""LiveChat Configuration API webhooks: actions, per-action filter rules, matching and `additional_data`.

Pure: the API validates registrations with `validate_registration`, the publish fan-out asks
`LiveChatRoute.matches` about each event, and the profile renders `additional_data` from the event's
stored context. What a filter needs but the payload does not carry comes from `EventContext`:

- taken from the payload where LiveChat puts it: `incoming_chat` carries `chat.users` and
  `chat.properties`; `incoming_event` / `event_updated` carry `event.author_id`;
- otherwise from the optional `context` object a producer publishes next to `data`:
  `{"chat_users": [{"id", "type", "owner_client_id"?}], "chat_properties": {...},
  "source_client_id": "...", "author_type": "customer" | "agent"}` (every key optional; an explicit
  value wins over what the payload says).

A filter that needs something neither supplies does not match (fails closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VERSIONS: tuple[str, ...] = ("v3.3", "v3.4", "v3.5", "v3.6", "v3.7")
# The delivered body names the account `license_id` up to v3.3, `organization_id` from v3.4.
LICENSE_KEY_FROM = "v3.4"

WEBHOOK_LIMIT = 3  # per action per owner client id
TYPES = ("license", "bot")

CHAT = ("chat_presence", "only_my_chats")
# action → the filters it accepts, in v3.3 (the v3.3 webhooks reference's action table; `source_type`
# is added from v3.4 wherever only_my_chats is).
V33_ACTIONS: dict[str, tuple[str, ...]] = {
    "incoming_chat": CHAT,
    "chat_deactivated": CHAT,
    "chat_access_granted": CHAT,
    "chat_access_revoked": CHAT,
    "chat_transferred": CHAT,
    "user_added_to_chat": CHAT,
    "user_removed_from_chat": CHAT,
    "incoming_event": (*CHAT, "author_type"),
    "event_updated": (*CHAT, "author_type"),
    "incoming_rich_message_postback": CHAT,
    "chat_properties_updated": CHAT,
    "chat_properties_deleted": CHAT,
    "thread_properties_updated": CHAT,
    "thread_properties_deleted": CHAT,
    "event_properties_updated": CHAT,
    "event_properties_deleted": CHAT,
    "thread_tagged": CHAT,
    "thread_untagged": CHAT,
    "routing_status_set": (),
    "agent_deleted": ("agent_ids",),
    "incoming_customer": (),
    "customer_session_fields_updated": ("chat_presence",),
    "events_marked_as_seen": CHAT,
}
# What each later version changes (its webhooks reference; the SDK's parsers agree): v3.4 merges
# chat_access_granted/revoked into chat_access_updated and adds the agent, auto access, bot and group
# actions; v3.5 adds the tag actions; v3.6 drops incoming_customer; v3.7 keeps v3.6's set.
_ACCOUNT_ACTIONS = (
    "agent_created",
    "agent_approved",
    "agent_updated",
    "agent_suspended",
    "agent_unsuspended",
    "auto_access_added",
    "auto_access_updated",
    "auto_access_deleted",
    "bot_created",
    "bot_updated",
    "bot_deleted",
    "group_created",
    "group_deleted",
    "group_updated",
)
_TAG_ACTIONS = ("tag_created", "tag_deleted", "tag_updated")


def _version_actions() -> dict[str, dict[str, tuple[str, ...]]]:
    v33 = dict(V33_ACTIONS)
    v34 = {k: v for k, v in v33.items() if k not in ("chat_access_granted", "chat_access_revoked")}
    v34["chat_access_updated"] = CHAT
    v34.update({name: () for name in _ACCOUNT_ACTIONS})
    v35 = {**v34, **{name: () for name in _TAG_ACTIONS}}
    v36 = {k: v for k, v in v35.items() if k != "incoming_customer"}
    return {"v3.3": v33, "v3.4": v34, "v3.5": v35, "v3.6": v36, "v3.7": dict(v36)}


VERSION_ACTIONS = _version_actions()
# Every action of any version: the publish path keeps a LiveChat context for these.
ACTION_FILTERS: dict[str, tuple[str, ...]] = {
    action: names for table in VERSION_ACTIONS.values() for action, names in table.items()
}
ADDITIONAL_DATA = ("chat_properties", "chat_presence_user_ids")
# Actions about the account rather than a chat have no chat to take additional data from.
NO_ADDITIONAL_DATA = frozenset(
    {"agent_status_changed", "agent_deleted", "incoming_customer", *_ACCOUNT_ACTIONS, *_TAG_ACTIONS}
)
SOURCE_TYPES = ("my_client", "other_clients", "system")
AUTHOR_TYPES = ("customer", "agent")
USER_ID_LIMIT = 100
_USER_ID = re.compile(r"^[^\x00-\x1f]{1,255}$")


class RegistrationError(ValueError):
    """A refused registration; `field` locates it in the request (`filters.chat_presence.user_ids`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def at_least(version: str, floor: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(floor)


def action_filters(action: str, version: str) -> tuple[str, ...]:
    names = VERSION_ACTIONS[version][action]
    if "only_my_chats" in names and at_least(version, "v3.4"):
        names = (*names, "source_type")
    return names


def webhook_names(version: str) -> list[dict[str, Any]]:
    """`list_webhook_names`: every action with the filters and additional data it accepts."""
    return [
        {
            "action": action,
            "filters": sorted(action_filters(action, version)),
            "additional_data": [] if action in NO_ADDITIONAL_DATA else list(ADDITIONAL_DATA),
        }
        for action in VERSION_ACTIONS[version]
    ]


def _user_ids(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise RegistrationError(field, "must be a non-empty list of user ids")
    if len(value) > USER_ID_LIMIT:
        raise RegistrationError(field, f"at most {USER_ID_LIMIT} user ids")
    if not all(isinstance(v, str) and _USER_ID.match(v) for v in value):
        raise RegistrationError(field, "every user id must be a non-empty string")
    return list(value)


def _values_or_exclude(value: Any, field: str) -> dict[str, list[str]]:
    """`{"values": [...]}` or `{"exclude_values": [...]}`: exactly one of the two."""
    if not isinstance(value, dict):
        raise RegistrationError(field, "must be an object with values or exclude_values")
    unknown = set(value) - {"values", "exclude_values"}
    if unknown:
        raise RegistrationError(f"{field}.{sorted(unknown)[0]}", "unknown key")
    if len(value) != 1:
        raise RegistrationError(field, "give exactly one of values and exclude_values")
    key = next(iter(value))
    return {key: _user_ids(value[key], f"{field}.{key}")}


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise RegistrationError(field, "must be true or false")
    return value


def _check_filter(name: str, value: Any) -> Any:
    field = f"filters.{name}"
    if name == "author_type":
        if value not in AUTHOR_TYPES:
            raise RegistrationError(field, "must be customer or agent")
        return value
    if name == "only_my_chats":
        return _bool(value, field)
    if name == "chat_presence":
        if not isinstance(value, dict) or not value:
            raise RegistrationError(field, "must be an object with user_ids and/or my_bots")
        unknown = set(value) - {"user_ids", "my_bots"}
        if unknown:
            raise RegistrationError(f"{field}.{sorted(unknown)[0]}", "unknown key")
        out: dict[str, Any] = {}
        if "user_ids" in value:
            out["user_ids"] = _values_or_exclude(value["user_ids"], f"{field}.user_ids")
        if "my_bots" in value:
            out["my_bots"] = _bool(value["my_bots"], f"{field}.my_bots")
        return out
    if name == "source_type":
        if not isinstance(value, list) or not value or not all(v in SOURCE_TYPES for v in value):
            raise RegistrationError(field, f"must be a non-empty list of {', '.join(SOURCE_TYPES)}")
        return sorted(set(value), key=SOURCE_TYPES.index)
    if name == "agent_ids":
        return _values_or_exclude(value, field)
    raise AssertionError(name)  # pragma: no cover - names come from ACTION_FILTERS


def validate_registration(
    action: str, filters: Any, additional_data: Any, version: str
) -> tuple[dict[str, Any], list[str]]:
    """The filters and additional data of a `register_webhook`, normalised; RegistrationError if refused."""
    if action not in VERSION_ACTIONS[version]:
        raise RegistrationError(
            "action", f"unknown action {action!r} in {version}; see list_webhook_names"
        )
    clean: dict[str, Any] = {}
    if filters is not None:
        if not isinstance(filters, dict):
            raise RegistrationError("filters", "must be an object")
        allowed = action_filters(action, version)
        for name, value in filters.items():
            if name not in allowed:
                accepted = ", ".join(allowed) or "no filters"
                raise RegistrationError(
                    f"filters.{name}", f"not a filter of action {action} (it accepts {accepted})"
                )
            clean[name] = _check_filter(name, value)
    extra: list[str] = []
    if additional_data is not None:
        if not isinstance(additional_data, list) or not all(isinstance(v, str) for v in additional_data):
            raise RegistrationError("additional_data", "must be a list of strings")
        if additional_data and action in NO_ADDITIONAL_DATA:
            raise RegistrationError("additional_data", f"action {action} takes no additional data")
        for item in additional_data:
            if item not in ADDITIONAL_DATA:
                raise RegistrationError("additional_data", f"unknown item {item!r}")
        extra = [item for item in ADDITIONAL_DATA if item in additional_data]
    return clean, extra


# ------------------------------------------------------------------------------------------ context


@dataclass(frozen=True, slots=True)
class EventContext:
    """What LiveChat knows about an event beyond its payload (see the module docstring)."""

    chat_users: tuple[Mapping[str, Any], ...] | None = None
    chat_properties: Mapping[str, Any] | None = None
    source_client_id: str | None = None
    author_type: str | None = None
    agent_id: str | None = None

    def user_ids(self) -> list[str]:
        return [str(u["id"]) for u in self.chat_users or () if isinstance(u.get("id"), str)]

    def stored(self) -> dict[str, Any] | None:
        """The part the delivery renders from (`additional_data`); None when there is nothing."""
        out: dict[str, Any] = {}
        if self.chat_properties is not None:
            out["chat_properties"] = dict(self.chat_properties)
        if self.chat_users is not None:
            out["chat_presence_user_ids"] = self.user_ids()
        return out or None


def _users(value: Any) -> tuple[Mapping[str, Any], ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(u for u in value if isinstance(u, dict))


def event_context(action: str, payload: Any, given: Mapping[str, Any] | None) -> EventContext:
    """The context of one published event: what the payload says, overridden by what was given."""
    data = payload if isinstance(payload, dict) else {}
    given = given or {}
    raw_chat = data.get("chat")
    chat: dict[str, Any] = raw_chat if isinstance(raw_chat, dict) else {}
    users = _users(given.get("chat_users"))
    if users is None:
        users = _users(chat.get("users"))
    props = given.get("chat_properties")
    if not isinstance(props, dict):
        props = chat.get("properties") if isinstance(chat.get("properties"), dict) else None
    source = given.get("source_client_id")
    author = given.get("author_type")
    if author is None and action in ("incoming_event", "event_updated"):
        author = _author_type(data.get("event"), users)
    # agent_deleted names the agent `agent_id` in v3.3, `id` from v3.4.
    agent = data.get("agent_id", data.get("id")) if action == "agent_deleted" else None
    return EventContext(
        chat_users=users,
        chat_properties=props,
        source_client_id=source if isinstance(source, str) else None,
        author_type=author if author in AUTHOR_TYPES else None,
        agent_id=agent if isinstance(agent, str) else None,
    )


def saved_context(ctx: EventContext, given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What `events.context` keeps: the rendered part (`EventContext.stored`) and, when the producer gave
    a context, that too (`given`), so a replay can rebuild the exact context the publish matched on."""
    out = ctx.stored() or {}
    if given:
        out["given"] = dict(given)
    return out or None


def restored_context(action: str, payload: Any, saved: Mapping[str, Any] | None) -> EventContext:
    """The context publish matched on, from the payload and what `saved_context` kept."""
    given = saved.get("given") if saved is not None else None
    return event_context(action, payload, given if isinstance(given, Mapping) else None)


def _author_type(event: Any, users: tuple[Mapping[str, Any], ...] | None) -> str | None:
    """An event's author is whoever in the chat has its `author_id`: a customer, or an agent (bots too)."""
    if not isinstance(event, dict) or not isinstance(event.get("author_id"), str):
        return None
    for user in users or ():
        if user.get("id") == event["author_id"]:
            kind = user.get("type")
            return "customer" if kind == "customer" else "agent" if kind in ("agent", "bot") else None
    return None


# ------------------------------------------------------------------------------------------ matching


def _in(key: str, wanted: list[str], present: set[str]) -> bool:
    hit = bool(present.intersection(wanted))
    return hit if key == "values" else not hit


def _source_kind(ctx: EventContext, owner: str) -> str:
    if ctx.source_client_id is None:
        return "system"
    return "my_client" if ctx.source_client_id == owner else "other_clients"


def license_webhooks_on(recorded: bool | None) -> bool:
    """A license's webhooks switch: on unless the license turned it off ("webhooks are always
    automatically enabled for the licences that install your application"; ADR 0006)."""
    return recorded is not False


def has_own_bot(owner_client_id: str, ctx: EventContext) -> bool:
    """A bot of the webhook's client takes part in the chat (a chat user carrying its `owner_client_id`:
    LiveChat lists bots among the agents; only bots have an owner client)."""
    return any(u.get("owner_client_id") == owner_client_id for u in ctx.chat_users or ())


def matches(
    filters: Mapping[str, Any], owner_client_id: str, ctx: EventContext, kind: str = "license"
) -> bool:
    """Whether an event passes a webhook's filters (all must hold). A `bot` webhook fires only for chats
    one of its client's bots takes part in."""
    if kind == "bot" and not has_own_bot(owner_client_id, ctx):
        return False
    for name, rule in filters.items():
        if name == "author_type" and ctx.author_type != rule:
            return False
        if name == "only_my_chats" and rule and ctx.source_client_id != owner_client_id:
            return False
        if name == "source_type" and _source_kind(ctx, owner_client_id) not in rule:
            return False
        if name == "agent_ids":
            if ctx.agent_id is None:
                return False
            ((key, ids),) = rule.items()
            if not _in(key, ids, {ctx.agent_id}):
                return False
        if name == "chat_presence" and not _presence(rule, owner_client_id, ctx):
            return False
    return True


def _presence(rule: Mapping[str, Any], owner: str, ctx: EventContext) -> bool:
    """`user_ids.values`: one of them is in the chat (or, with `my_bots`, one of the owner's bots is);
    `user_ids.exclude_values`: none of them is; `my_bots` alone: one of the owner's bots is."""
    if ctx.chat_users is None:
        return False
    present = set(ctx.user_ids())
    mine = has_own_bot(owner, ctx)
    ids = rule.get("user_ids")
    my_bots = rule.get("my_bots", False)
    if ids is None:
        return mine if my_bots else True
    ((key, wanted),) = ids.items()
    if key == "exclude_values":
        return _in(key, wanted, present) and (mine or not my_bots)
    return _in(key, wanted, present) or (my_bots and mine)


def additional_data(wanted: list[str] | tuple[str, ...], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The delivered `additional_data`: each item asked for at registration, empty when unknown."""
    stored = stored or {}
    out: dict[str, Any] = {}
    for item in wanted:
        if item == "chat_properties":
            out[item] = stored.get(item, {})
        elif item == "chat_presence_user_ids":
            out[item] = stored.get(item, [])
    return out


def license_value(account_id: str, version: str) -> tuple[str, int | str]:
    """(`license_id`, 104130623) up to v3.3 — a number when the account id is one — else
    (`organization_id`, the id as a string)."""
    if at_least(version, LICENSE_KEY_FROM):
        return "organization_id", account_id
    return "license_id", int(account_id) if account_id.isdigit() and len(account_id) < 19 else account_id
