"""LiveChat Configuration API v3.3 webhook actions: `data` is the action's `payload`.

Nested LiveChat objects (chat, user, event, customer, properties) are kept as JSON objects.
"""

from __future__ import annotations

from typing import Any

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


class UserAddedToChat(Data):
    chat_id: str
    thread_id: str
    user: JsonObject
    reason: str
    requester_id: str


class UserRemovedFromChat(Data):
    chat_id: str
    thread_id: str
    user_id: str
    reason: str
    requester_id: str


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
    agent_id: str


class IncomingCustomer(Data):
    customer: JsonObject


class ActiveChat(Data):
    chat_id: str
    thread_id: str


class CustomerSessionFieldsUpdated(Data):
    id: str
    active_chat: ActiveChat
    session_fields: list[JsonObject]


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
    _spec("agent_deleted", AgentDeleted, "An agent was deleted", {"agent_id": AGENT}),
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
