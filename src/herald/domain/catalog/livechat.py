"""LiveChat Configuration API webhook actions (v3.3 to v3.7): `data` is the action's `payload`.

Nested LiveChat objects (chat, user, event, customer, properties) are kept as JSON objects. One model per
action serves every version: a field one version requires and a later one made optional is optional
here (the SDK's parsers of v3.3 and v3.7 are the check; `domain.livechat.VERSION_ACTIONS` says which
version knows which action).
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from herald.domain.catalog.base import Data, EventTypeSpec

JsonObject = dict[str, Any]


class ChatRef(Data):
    id: str
    users: list[JsonObject]
    properties: JsonObject | None = None
    thread: JsonObject | None = None


class IncomingChat(Data):
    chat: ChatRef


class ChatDeactivated(Data):
    chat_id: str
    thread_id: str
    user_id: str | None = None  # absent when the router closed the chat


class Access(Data):
    group_ids: list[int]


class ChatAccess(Data):
    id: str
    access: Access


class ChatTransferred(Data):
    chat_id: str
    reason: str
    transferred_to: JsonObject  # {agent_ids?, group_ids?}
    thread_id: str | None = None
    requester_id: str | None = None
    queue: JsonObject | None = None


class UserAddedToChat(Data):
    chat_id: str
    reason: str
    requester_id: str
    thread_id: str | None = None  # optional from v3.4 (a user added to an inactive chat)
    user: JsonObject | None = None
    user_type: str | None = None


class UserRemovedFromChat(Data):
    chat_id: str
    user_id: str
    reason: str
    requester_id: str
    thread_id: str | None = None
    user_type: str | None = None


class ChatEvent(Data):
    chat_id: str
    thread_id: str
    event: JsonObject


class Postback(Data):
    id: str
    toggled: bool


class IncomingRichMessagePostback(Data):
    user_id: str
    chat_id: str
    thread_id: str
    event_id: str
    postback: Postback


class ChatProperties(Data):
    chat_id: str
    properties: JsonObject


class ThreadProperties(Data):
    chat_id: str
    thread_id: str
    properties: JsonObject


class EventProperties(Data):
    chat_id: str
    thread_id: str
    event_id: str
    properties: JsonObject


class ThreadTag(Data):
    chat_id: str
    thread_id: str
    tag: str


class RoutingStatusSet(Data):
    agent_id: str
    status: str


class AgentDeleted(Data):
    """`agent_id` in the v3.3 webhooks reference, `id` in later ones and in every SDK parser: one of them."""

    agent_id: str | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _one_id(self) -> AgentDeleted:
        if self.agent_id is None and self.id is None:
            raise ValueError("give the deleted agent's id (id, or agent_id as in v3.3)")
        return self


class Identified(Data):
    id: str


class AgentCreated(Data):
    id: str
    name: str
    awaiting_approval: bool


class AgentUpdated(Data):
    id: str


class AutoAccessAdded(Data):
    id: str
    description: str
    access: JsonObject
    conditions: JsonObject


class BotCreated(Data):
    id: str
    name: str
    default_group_priority: str
    owner_client_id: str


class GroupCreated(Data):
    id: int
    name: str
    language_code: str
    agent_priorities: JsonObject


class GroupUpdated(Data):
    id: int


class TagCreated(Data):
    name: str
    author_id: str
    created_at: str
    group_ids: list[int]


class TagDeleted(Data):
    name: str


class TagUpdated(Data):
    name: str
    group_ids: list[int]


class IncomingCustomer(Data):
    customer: JsonObject


class ActiveChat(Data):
    chat_id: str
    thread_id: str


class CustomerSessionFieldsUpdated(Data):
    id: str
    session_fields: list[JsonObject]
    active_chat: ActiveChat | None = None


class EventsMarkedAsSeen(Data):
    user_id: str
    chat_id: str
    seen_up_to: str


CHAT, THREAD, EVENT = "PJ0MRSHTDG", "K600PKZON8", "K600PKZON8_1"
AGENT, CUSTOMER = "smith@example.com", "b7eff798-f8df-4364-8059-649c35c9ed0c"
MESSAGE = {
    "id": EVENT,
    "created_at": "2024-05-01T12:00:00.000000Z",
    "type": "message",
    "text": "Hello, how can I help?",
    "author_id": AGENT,
    "visibility": "all",
}
PROPERTIES = {"routing": {"idle": False, "unassigned": False}}


def _spec(name: str, model: type[Data], description: str, sample: dict[str, Any]) -> EventTypeSpec:
    return EventTypeSpec(name, "livechat", model, description, sample)


SPECS = [
    _spec(
        "incoming_chat",
        IncomingChat,
        "A chat started or a new thread began",
        {
            "chat": {
                "id": CHAT,
                "users": [
                    {"id": CUSTOMER, "type": "customer", "name": "Jane", "present": True},
                    {"id": AGENT, "type": "agent", "name": "Agent Smith", "present": True},
                ],
                "properties": PROPERTIES,
                "thread": {"id": THREAD, "active": True, "events": [MESSAGE], "properties": {}},
            }
        },
    ),
    _spec(
        "chat_deactivated",
        ChatDeactivated,
        "A chat was closed (no user_id when the router closed it)",
        {"chat_id": CHAT, "thread_id": THREAD, "user_id": AGENT},
    ),
    _spec(
        "chat_access_granted",
        ChatAccess,
        "Groups gained access to a chat",
        {"id": CHAT, "access": {"group_ids": [0, 1]}},
    ),
    _spec(
        "chat_access_revoked",
        ChatAccess,
        "Groups lost access to a chat",
        {"id": CHAT, "access": {"group_ids": [1]}},
    ),
    _spec(
        "chat_access_updated",
        ChatAccess,
        "A chat's group access changed (v3.4+: replaces chat_access_granted/revoked)",
        {"id": CHAT, "access": {"group_ids": [0, 1]}},
    ),
    _spec(
        "chat_transferred",
        ChatTransferred,
        "A chat was transferred to agents or groups",
        {
            "chat_id": CHAT,
            "thread_id": THREAD,
            "requester_id": AGENT,
            "reason": "manual",
            "transferred_to": {"agent_ids": ["jones@example.com"], "group_ids": [1]},
            "queue": {"position": 1, "wait_time": 0, "queued_at": "2024-05-01T12:00:00.000000Z"},
        },
    ),
    _spec(
        "user_added_to_chat",
        UserAddedToChat,
        "A user joined a chat",
        {
            "chat_id": CHAT,
            "thread_id": THREAD,
            "user": {"id": AGENT, "type": "agent", "name": "Agent Smith", "present": True},
            "reason": "manual",
            "requester_id": AGENT,
        },
    ),
    _spec(
        "user_removed_from_chat",
        UserRemovedFromChat,
        "A user left a chat",
        {"chat_id": CHAT, "thread_id": THREAD, "user_id": AGENT, "reason": "manual", "requester_id": AGENT},
    ),
    _spec(
        "incoming_event",
        ChatEvent,
        "A new event (message, file…) in a chat",
        {"chat_id": CHAT, "thread_id": THREAD, "event": MESSAGE},
    ),
    _spec(
        "event_updated",
        ChatEvent,
        "An event in a chat was edited",
        {"chat_id": CHAT, "thread_id": THREAD, "event": {**MESSAGE, "text": "Hello again"}},
    ),
    _spec(
        "incoming_rich_message_postback",
        IncomingRichMessagePostback,
        "A user clicked a rich-message button",
        {
            "user_id": CUSTOMER,
            "chat_id": CHAT,
            "thread_id": THREAD,
            "event_id": EVENT,
            "postback": {"id": "action_yes", "toggled": True},
        },
    ),
    _spec(
        "chat_properties_updated",
        ChatProperties,
        "Chat properties were set",
        {"chat_id": CHAT, "properties": {"rating": {"score": 1, "comment": "Thanks"}}},
    ),
    _spec(
        "chat_properties_deleted",
        ChatProperties,
        "Chat properties were removed",
        {"chat_id": CHAT, "properties": {"rating": ["score", "comment"]}},
    ),
    _spec(
        "thread_properties_updated",
        ThreadProperties,
        "Thread properties were set",
        {"chat_id": CHAT, "thread_id": THREAD, "properties": {"routing": {"idle": True}}},
    ),
    _spec(
        "thread_properties_deleted",
        ThreadProperties,
        "Thread properties were removed",
        {"chat_id": CHAT, "thread_id": THREAD, "properties": {"routing": ["idle"]}},
    ),
    _spec(
        "event_properties_updated",
        EventProperties,
        "Event properties were set",
        {
            "chat_id": CHAT,
            "thread_id": THREAD,
            "event_id": EVENT,
            "properties": {"translation": {"target_lang": "fr"}},
        },
    ),
    _spec(
        "event_properties_deleted",
        EventProperties,
        "Event properties were removed",
        {
            "chat_id": CHAT,
            "thread_id": THREAD,
            "event_id": EVENT,
            "properties": {"translation": ["target_lang"]},
        },
    ),
    _spec(
        "thread_tagged",
        ThreadTag,
        "A thread was tagged",
        {"chat_id": CHAT, "thread_id": THREAD, "tag": "sales"},
    ),
    _spec(
        "thread_untagged",
        ThreadTag,
        "A tag was removed from a thread",
        {"chat_id": CHAT, "thread_id": THREAD, "tag": "sales"},
    ),
    _spec(
        "routing_status_set",
        RoutingStatusSet,
        "An agent's routing status changed",
        {"agent_id": AGENT, "status": "accepting_chats"},
    ),
    _spec("agent_deleted", AgentDeleted, "An agent was deleted (v3.3: agent_id; v3.4+: id)", {"id": AGENT}),
    _spec(
        "agent_created",
        AgentCreated,
        "An agent was created (v3.4+)",
        {"id": AGENT, "name": "Agent Smith", "awaiting_approval": False, "role": "normal"},
    ),
    _spec("agent_approved", Identified, "An agent was approved (v3.4+)", {"id": AGENT}),
    _spec("agent_updated", AgentUpdated, "An agent was updated (v3.4+)", {"id": AGENT, "job_title": "Lead"}),
    _spec("agent_suspended", Identified, "An agent was suspended (v3.4+)", {"id": AGENT}),
    _spec("agent_unsuspended", Identified, "An agent was unsuspended (v3.4+)", {"id": AGENT}),
    _spec(
        "auto_access_added",
        AutoAccessAdded,
        "An auto access rule was added (v3.4+)",
        {
            "id": "1c2e8a3f",
            "description": "Chats from example.com",
            "access": {"groups": [1]},
            "conditions": {"domain": {"values": [{"value": "example.com", "exact_match": True}]}},
        },
    ),
    _spec("auto_access_updated", Identified, "An auto access rule was updated (v3.4+)", {"id": "1c2e8a3f"}),
    _spec("auto_access_deleted", Identified, "An auto access rule was deleted (v3.4+)", {"id": "1c2e8a3f"}),
    _spec(
        "bot_created",
        BotCreated,
        "A bot was created (v3.4+)",
        {
            "id": "bot-1",
            "name": "Helper",
            "default_group_priority": "first",
            "owner_client_id": "asXdesldiAJSq9padj",
        },
    ),
    _spec("bot_updated", Identified, "A bot was updated (v3.4+)", {"id": "bot-1", "name": "Helper 2"}),
    _spec("bot_deleted", Identified, "A bot was deleted (v3.4+)", {"id": "bot-1"}),
    _spec(
        "group_created",
        GroupCreated,
        "A group was created (v3.4+)",
        {"id": 2, "name": "Sales", "language_code": "en", "agent_priorities": {AGENT: "normal"}},
    ),
    _spec("group_deleted", Identified, "A group was deleted (v3.4+)", {"id": "2"}),
    _spec("group_updated", GroupUpdated, "A group was updated (v3.4+)", {"id": 2, "name": "Sales EU"}),
    _spec(
        "tag_created",
        TagCreated,
        "A tag was created (v3.5+)",
        {"name": "sales", "author_id": AGENT, "created_at": "2024-05-01T12:00:00Z", "group_ids": [0]},
    ),
    _spec("tag_deleted", TagDeleted, "A tag was deleted (v3.5+)", {"name": "sales"}),
    _spec(
        "tag_updated", TagUpdated, "A tag's groups changed (v3.5+)", {"name": "sales", "group_ids": [0, 1]}
    ),
    _spec(
        "incoming_customer",
        IncomingCustomer,
        "A new customer appeared",
        {"customer": {"id": CUSTOMER, "name": "Jane", "email": "jane@example.com", "session_fields": []}},
    ),
    _spec(
        "customer_session_fields_updated",
        CustomerSessionFieldsUpdated,
        "A customer's session fields changed",
        {
            "id": CUSTOMER,
            "active_chat": {"chat_id": CHAT, "thread_id": THREAD},
            "session_fields": [{"plan": "pro"}, {"locale": "en"}],
        },
    ),
    _spec(
        "events_marked_as_seen",
        EventsMarkedAsSeen,
        "A user saw a chat's events up to a time",
        {"user_id": CUSTOMER, "chat_id": CHAT, "seen_up_to": "2024-05-01T12:00:05.000000Z"},
    ),
]
