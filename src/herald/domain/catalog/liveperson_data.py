"""LivePerson Data Transporter: the ten events and their `data` (Long → int, Double → float).

Fields documented `| null` may be null or left out; the others are required and non-null.
"""

from __future__ import annotations

from herald.domain.catalog.base import Data, EventTypeSpec


class ConvDetails(Data):
    convId: str


class NullableConvDetails(Data):
    convId: str | None = None


class AgentDetails(Data):
    agentId: str
    agentName: str


class AssignedAgentDetails(AgentDetails):
    isAssigned: bool | None = None


class AgentSnapshotEvent(Data):
    agentId: str
    agentName: str
    totalAssignedConvWeight: float | None = None
    maxSlots: int | None = None
    totalAssignedConversations: int | None = None


class TTRStatusEvent(Data):
    effectiveTtr: int
    convDetails: ConvDetails


class AgentStateChangedEvent(Data):
    agentDetails: AgentDetails
    stateCode: str | None = None
    stateDesc: str | None = None
    reasonCode: str | None = None
    reasonDesc: str | None = None


class ConversationRequestEvent(Data):
    convDetails: ConvDetails


class ConversationEndEvent(Data):
    convDetails: ConvDetails


class AppActionEvent(Data):
    convDetails: NullableConvDetails
    viewName: str | None = None
    actionName: str | None = None


class ParticipantAgentAddEvent(Data):
    convDetails: NullableConvDetails
    agentDetails: AssignedAgentDetails


class ParticipantAgentLeaveEvent(Data):
    convDetails: NullableConvDetails
    agentDetails: AgentDetails


class MessageAgentEvent(Data):
    convDetails: NullableConvDetails
    agentDetails: AssignedAgentDetails


class MessageConsumerEvent(Data):
    convDetails: NullableConvDetails


CONV = "5491244f-d1a8-4b0f-9c1e-1a2b3c4d5e6f"
AGENT = {"agentId": "2783497012", "agentName": "Ada Lovelace"}


def _spec(model: type[Data], description: str, sample: dict[str, object]) -> EventTypeSpec:
    return EventTypeSpec(model.__name__, "liveperson-data", model, description, dict(sample))


SPECS = [
    _spec(
        AgentSnapshotEvent,
        "An agent's load, every 30 s per agent",
        {**AGENT, "totalAssignedConvWeight": 1.5, "maxSlots": 4, "totalAssignedConversations": 2},
    ),
    _spec(
        TTRStatusEvent,
        "A conversation's time-to-response deadline (epoch ms; -1 once answered)",
        {"effectiveTtr": 1732190600000, "convDetails": {"convId": CONV}},
    ),
    _spec(
        AgentStateChangedEvent,
        "An agent changed state (online, away, back soon…)",
        {
            "agentDetails": AGENT,
            "stateCode": "AWAY",
            "stateDesc": "Away",
            "reasonCode": "7",
            "reasonDesc": "Lunch break",
        },
    ),
    _spec(ConversationRequestEvent, "A consumer asked for a conversation", {"convDetails": {"convId": CONV}}),
    _spec(ConversationEndEvent, "A conversation was closed", {"convDetails": {"convId": CONV}}),
    _spec(
        AppActionEvent,
        "An action in an agent workspace app",
        {"convDetails": {"convId": CONV}, "viewName": "agent-workspace", "actionName": "transfer"},
    ),
    _spec(
        ParticipantAgentAddEvent,
        "An agent joined a conversation",
        {"convDetails": {"convId": CONV}, "agentDetails": {**AGENT, "isAssigned": True}},
    ),
    _spec(
        ParticipantAgentLeaveEvent,
        "An agent left a conversation",
        {"convDetails": {"convId": CONV}, "agentDetails": AGENT},
    ),
    _spec(
        MessageAgentEvent,
        "An agent sent a message",
        {"convDetails": {"convId": CONV}, "agentDetails": {**AGENT, "isAssigned": True}},
    ),
    _spec(MessageConsumerEvent, "A consumer sent a message", {"convDetails": {"convId": CONV}}),
]
