"""LivePerson Connector API notifications. `data` is one change object or `{"changes": [...]}`.

The reference gives examples rather than full schemas, so the models are permissive: the keys that
identify a change are checked, everything else passes through.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, RootModel, Tag

from herald.domain.catalog.base import Data, EventTypeSpec


def _shape(value: Any) -> str:
    return "many-changes" if isinstance(value, dict) and "changes" in value else "one-change"


class OriginatorMetadata(Data):
    id: str | None = None
    role: str | None = None


class MessagingChange(Data):
    sequence: int | None = None
    originatorId: str | None = None
    originatorMetadata: OriginatorMetadata | None = None
    serverTimestamp: int | None = None
    dialogId: str | None = None
    conversationId: str | None = None


class ContentEventBody(Data):
    type: Literal["ContentEvent"]
    message: str | None = None
    contentType: str | None = None


class RichContentEventBody(Data):
    type: Literal["RichContentEvent"]
    content: dict[str, Any] | None = None


class ChatStateEventBody(Data):
    type: Literal["ChatStateEvent"]
    chatState: str


class AcceptStatusEventBody(Data):
    type: Literal["AcceptStatusEvent"]
    status: str
    sequenceList: list[int]


class ContentChange(MessagingChange):
    event: ContentEventBody


class RichContentChange(MessagingChange):
    event: RichContentEventBody


class ChatStateChange(MessagingChange):
    event: ChatStateEventBody


class AcceptStatusChange(MessagingChange):
    event: AcceptStatusEventBody


class Participant(Data):
    id: str
    role: str


class Ttr(Data):
    ttrType: str | None = None
    value: int | None = None


class ConversationDetails(Data):
    participants: list[Participant] | None = None
    brandId: str | None = None
    state: str | None = None
    startTs: int | None = None
    metaDataLastUpdateTs: int | None = None
    ttr: Ttr | None = None


class ConversationResult(Data):
    convId: str
    conversationDetails: ConversationDetails | None = None


class ConversationChange(Data):
    type: Literal["UPSERT", "DELETE"]
    result: ConversationResult


class ContentChanges(Data):
    changes: list[ContentChange]


class RichContentChanges(Data):
    changes: list[RichContentChange]


class ChatStateChanges(Data):
    changes: list[ChatStateChange]


class AcceptStatusChanges(Data):
    changes: list[AcceptStatusChange]


class ConversationChanges(Data):
    changes: list[ConversationChange]


ContentEventData = Annotated[
    Annotated[ContentChange, Tag("one-change")] | Annotated[ContentChanges, Tag("many-changes")],
    Discriminator(_shape),
]


class ContentEvent(RootModel[ContentEventData]):
    """One change, or `{"changes": [...]}`."""


RichContentEventData = Annotated[
    Annotated[RichContentChange, Tag("one-change")] | Annotated[RichContentChanges, Tag("many-changes")],
    Discriminator(_shape),
]


class RichContentEvent(RootModel[RichContentEventData]):
    """One change, or `{"changes": [...]}`."""


ChatStateEventData = Annotated[
    Annotated[ChatStateChange, Tag("one-change")] | Annotated[ChatStateChanges, Tag("many-changes")],
    Discriminator(_shape),
]


class ChatStateEvent(RootModel[ChatStateEventData]):
    """One change, or `{"changes": [...]}`."""


AcceptStatusEventData = Annotated[
    Annotated[AcceptStatusChange, Tag("one-change")] | Annotated[AcceptStatusChanges, Tag("many-changes")],
    Discriminator(_shape),
]


class AcceptStatusEvent(RootModel[AcceptStatusEventData]):
    """One change, or `{"changes": [...]}`."""


ExConversationChangeNotificationData = Annotated[
    Annotated[ConversationChange, Tag("one-change")] | Annotated[ConversationChanges, Tag("many-changes")],
    Discriminator(_shape),
]


class ExConversationChangeNotification(RootModel[ExConversationChangeNotificationData]):
    """One change, or `{"changes": [...]}`."""


MS = "ms.MessagingEventNotification"
ORIGIN = {
    "sequence": 0,
    "originatorId": "ade2-4b0f",
    "originatorMetadata": {"id": "ade2-4b0f", "role": "CONSUMER"},
    "serverTimestamp": 1528371161893,
    "dialogId": "5491244f-d1a8",
    "conversationId": "5491244f-d1a8",
}

SPECS = [
    EventTypeSpec(
        f"{MS}.ContentEvent",
        "liveperson-connector",
        ContentEvent,
        "A text/content message (sent as type ms.MessagingEventNotification)",
        {
            **ORIGIN,
            "event": {"type": "ContentEvent", "message": "Hello from Consumer", "contentType": "text/plain"},
        },
    ),
    EventTypeSpec(
        f"{MS}.RichContentEvent",
        "liveperson-connector",
        RichContentEvent,
        "A structured-content message (sent as type ms.MessagingEventNotification)",
        {
            **ORIGIN,
            "event": {
                "type": "RichContentEvent",
                "content": {"type": "vertical", "elements": [{"type": "text", "text": "Pick a plan"}]},
            },
        },
    ),
    EventTypeSpec(
        f"{MS}.ChatStateEvent",
        "liveperson-connector",
        ChatStateEvent,
        "Typing state: COMPOSING, ACTIVE, PAUSE… (sent as type ms.MessagingEventNotification)",
        {**ORIGIN, "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}},
    ),
    EventTypeSpec(
        f"{MS}.AcceptStatusEvent",
        "liveperson-connector",
        AcceptStatusEvent,
        "Messages ACCEPTed or READ, by sequence (sent as type ms.MessagingEventNotification)",
        {**ORIGIN, "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]}},
    ),
    EventTypeSpec(
        "cqm.ExConversationChangeNotification",
        "liveperson-connector",
        ExConversationChangeNotification,
        "A conversation's state changed: opened, closed, participants, time to response",
        {
            "changes": [
                {
                    "type": "UPSERT",
                    "result": {
                        "convId": "5491244f-d1a8",
                        "conversationDetails": {
                            "participants": [
                                {"id": "ade2-4b0f", "role": "CONSUMER"},
                                {"id": "2783497012", "role": "ASSIGNED_AGENT"},
                            ],
                            "brandId": "64467156",
                            "state": "OPEN",
                            "startTs": 1528371161882,
                            "metaDataLastUpdateTs": 1528371161882,
                            "ttr": {"ttrType": "PRIORITIZED", "value": 600},
                        },
                    },
                }
            ]
        },
    ),
]
