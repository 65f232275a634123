"""A deterministic contact-center model: pure, no I/O, driven by a seeded random generator.

Per account there are agents and conversations. A conversation is requested, an agent joins, consumer
and agent messages alternate (moving the time to response), the agent leaves and the conversation ends.
Agents change state now and then, and every agent sends an AgentSnapshotEvent every 30 s. Each step is
published in every selected family: LivePerson Data Transporter, LivePerson Connector and LiveChat.

Time is simulated (epoch ms); `advance_to(t)` returns every event due up to `t`, in time order.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from herald.domain.catalog.base import FAMILIES, Family

SNAPSHOT_INTERVAL_MS = 30_000
TTR_MS = 600_000
START_MS = 1_732_190_000_000
MS = "ms.MessagingEventNotification"
CQM = "cqm.ExConversationChangeNotification"

CONSUMER_LINES = (
    "Hi, I need help with my order",
    "My package has not arrived yet",
    "Can I change my delivery address?",
    "The app keeps logging me out",
    "How do I upgrade my plan?",
    "Thanks, that helps",
    "Is there a discount for annual billing?",
    "I was charged twice this month",
)
AGENT_LINES = (
    "Hello! I'm happy to help.",
    "Let me look that up for you.",
    "Could you share your order number?",
    "I've updated that for you.",
    "Is there anything else I can do?",
    "I've issued a refund; it takes 3-5 days.",
    "Thanks for your patience.",
)
STATES = (
    ("ONLINE", "Online", "accepting_chats", None, None),
    ("AWAY", "Away", "not_accepting_chats", "7", "Lunch break"),
    ("BACK_SOON", "Back soon", "not_accepting_chats", "3", "Coffee"),
    ("ONLINE", "Online", "accepting_chats", None, None),
)


@dataclass(frozen=True)
class SimEvent:
    account: str
    id: str
    type: str
    family: Family
    data: dict[str, Any]
    ordering_key: str
    at_ms: int

    def body(self) -> dict[str, Any]:
        """The event as the publish API takes it."""
        return {"id": self.id, "type": self.type, "data": self.data, "ordering_key": self.ordering_key}


@dataclass
class Agent:
    account: str
    id: str
    name: str
    email: str
    max_slots: int
    state: int = 0  # index into STATES
    conversations: set[str] = field(default_factory=set)

    @property
    def online(self) -> bool:
        return STATES[self.state][0] == "ONLINE"


@dataclass
class Conversation:
    account: str
    id: str
    consumer: str
    thread: str
    started_ms: int
    messages_left: int
    agent: Agent | None = None
    sequence: int = 0
    consumer_turn: bool = True


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def events_per_conversation(families: frozenset[Family]) -> float:
    """Roughly how many events one conversation yields (average 6 messages) in these families."""
    per = {"liveperson-data": 12.0, "liveperson-connector": 9.0, "livechat": 10.0}
    return sum(per[f] for f in families)


class Simulation:
    def __init__(
        self,
        *,
        accounts: int = 2,
        agents: int = 5,
        rate: float = 50.0,
        seed: int = 0,
        families: frozenset[Family] | None = None,
        account_prefix: str = "sim-",
        id_prefix: str = "sim",
        start_ms: int = START_MS,
    ) -> None:
        if accounts < 1 or agents < 1 or rate <= 0:
            raise ValueError("accounts, agents and rate must be positive")
        self.rng = random.Random(seed)
        self.families = frozenset(FAMILIES) if families is None else families
        self.id_prefix = id_prefix
        self.now_ms = start_ms
        self.count = 0
        self.heap: list[tuple[int, int, Callable[[int], list[SimEvent]]]] = []
        self.seq = 0
        self.account_ids = [f"{account_prefix}{i + 1}" for i in range(accounts)]
        self.agents: dict[str, list[Agent]] = {}
        # Conversation arrivals sized so the whole stream comes close to `rate` events/s.
        background = 0.0
        if "liveperson-data" in self.families:
            background += agents * accounts * (1000 / SNAPSHOT_INTERVAL_MS + 1 / 90)
        if "livechat" in self.families:
            background += agents * accounts / 90
        per_conv = events_per_conversation(self.families) or 1.0
        self.conv_per_s = max(0.02, (rate - background) / per_conv / accounts)
        for a, account in enumerate(self.account_ids):
            staff = [
                Agent(
                    account,
                    f"{a + 1}{i + 1:05d}",
                    f"Agent {a + 1}.{i + 1}",
                    f"agent{i + 1}@{account}.example.com",
                    self.rng.choice((2, 3, 4)),
                )
                for i in range(agents)
            ]
            self.agents[account] = staff
            for agent in staff:
                self._at(start_ms + self.rng.randrange(SNAPSHOT_INTERVAL_MS), self._snapshot(agent))
                self._at(start_ms + self._gap(90), self._state_change(agent))
            self._at(start_ms + self._gap(1 / self.conv_per_s), self._request(account))

    # ------------------------------------------------------------------------------ scheduling

    def _gap(self, mean_s: float) -> int:
        return max(1, int(self.rng.expovariate(1 / mean_s) * 1000))

    def _at(self, at_ms: int, action: Callable[[int], list[SimEvent]]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at_ms, self.seq, action))

    def advance_to(self, until_ms: int) -> list[SimEvent]:
        """Every event due at or before `until_ms`, in time order."""
        out: list[SimEvent] = []
        while self.heap and self.heap[0][0] <= until_ms:
            at_ms, _, action = heapq.heappop(self.heap)
            self.now_ms = at_ms
            out.extend(action(at_ms))
        self.now_ms = max(self.now_ms, until_ms)
        return out

    def _event(
        self, account: str, type_: str, family: Family, data: dict[str, Any], key: str, at: int
    ) -> list[SimEvent]:
        if family not in self.families:
            return []
        self.count += 1
        return [SimEvent(account, f"{self.id_prefix}-{self.count}", type_, family, data, key, at)]

    # ------------------------------------------------------------------------------- agents

    def _snapshot(self, agent: Agent) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            self._at(at + SNAPSHOT_INTERVAL_MS, self._snapshot(agent))
            data = {
                "agentId": agent.id,
                "agentName": agent.name,
                "totalAssignedConvWeight": float(len(agent.conversations)),
                "maxSlots": agent.max_slots,
                "totalAssignedConversations": len(agent.conversations),
            }
            return self._event(agent.account, "AgentSnapshotEvent", "liveperson-data", data, agent.id, at)

        return act

    def _state_change(self, agent: Agent) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            self._at(at + self._gap(90), self._state_change(agent))
            agent.state = (agent.state + 1) % len(STATES)
            code, desc, routing, reason, reason_desc = STATES[agent.state]
            data = {
                "agentDetails": {"agentId": agent.id, "agentName": agent.name},
                "stateCode": code,
                "stateDesc": desc,
                "reasonCode": reason,
                "reasonDesc": reason_desc,
            }
            return [
                *self._event(agent.account, "AgentStateChangedEvent", "liveperson-data", data, agent.id, at),
                *self._event(
                    agent.account,
                    "routing_status_set",
                    "livechat",
                    {"agent_id": agent.email, "status": routing},
                    agent.id,
                    at,
                ),
            ]

        return act

    # -------------------------------------------------------------------------- conversations

    def _cqm(self, conv: Conversation, state: str, at: int) -> dict[str, Any]:
        participants = [{"id": conv.consumer, "role": "CONSUMER"}]
        if conv.agent is not None:
            participants.append({"id": conv.agent.id, "role": "ASSIGNED_AGENT"})
        return {
            "changes": [
                {
                    "type": "UPSERT",
                    "result": {
                        "convId": conv.id,
                        "conversationDetails": {
                            "participants": participants,
                            "brandId": conv.account,
                            "state": state,
                            "startTs": conv.started_ms,
                            "metaDataLastUpdateTs": at,
                            "ttr": {"ttrType": "NORMAL", "value": TTR_MS // 1000},
                        },
                    },
                }
            ]
        }

    def _request(self, account: str) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            self._at(at + self._gap(1 / self.conv_per_s), self._request(account))
            return self._open(account, at)

        return act

    def open_conversation(self) -> list[SimEvent]:
        """One more conversation now, beside the arrival process: a conversation's events spread over its
        lifetime, so the stream starts below its rate; the driver tops it up with these."""
        return self._open(self.rng.choice(self.account_ids), self.now_ms)

    def _open(self, account: str, at: int) -> list[SimEvent]:
        n = self.rng.getrandbits(64)
        conv = Conversation(
            account,
            f"{n:016x}-conv",
            f"{n >> 16:012x}-consumer",
            f"T{n % 10**8:08d}",
            at,
            messages_left=self.rng.randint(2, 10),
        )
        chat = {
            "id": conv.id,
            "users": [{"id": conv.consumer, "type": "customer", "name": "Customer", "present": True}],
            "properties": {"routing": {"idle": False, "unassigned": True}},
            "thread": {"id": conv.thread, "active": True, "events": [], "properties": {}},
        }
        self._at(at + 1000 + self.rng.randrange(4000), self._join(conv))
        return [
            *self._event(
                account,
                "ConversationRequestEvent",
                "liveperson-data",
                {"convDetails": {"convId": conv.id}},
                conv.id,
                at,
            ),
            *self._event(account, CQM, "liveperson-connector", self._cqm(conv, "OPEN", at), conv.id, at),
            *self._event(account, "incoming_chat", "livechat", {"chat": chat}, conv.id, at),
            *self._ttr(conv, at + TTR_MS, at),
        ]

    def _ttr(self, conv: Conversation, effective: int, at: int) -> list[SimEvent]:
        data = {"effectiveTtr": effective, "convDetails": {"convId": conv.id}}
        return self._event(conv.account, "TTRStatusEvent", "liveperson-data", data, conv.id, at)

    def _agent_details(self, agent: Agent, assigned: bool | None) -> dict[str, Any]:
        details: dict[str, Any] = {"agentId": agent.id, "agentName": agent.name}
        if assigned is not None:
            details["isAssigned"] = assigned
        return details

    def _join(self, conv: Conversation) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            staff = self.agents[conv.account]
            online = [a for a in staff if a.online] or staff
            agent = min(online, key=lambda a: (len(a.conversations), self.rng.random()))
            conv.agent = agent
            agent.conversations.add(conv.id)
            user = {"id": agent.email, "type": "agent", "name": agent.name, "present": True}
            self._at(at + 1000 + self.rng.randrange(5000), self._message(conv))
            return [
                *self._event(
                    conv.account,
                    "ParticipantAgentAddEvent",
                    "liveperson-data",
                    {"convDetails": {"convId": conv.id}, "agentDetails": self._agent_details(agent, True)},
                    conv.id,
                    at,
                ),
                *self._event(
                    conv.account, CQM, "liveperson-connector", self._cqm(conv, "OPEN", at), conv.id, at
                ),
                *self._event(
                    conv.account,
                    "user_added_to_chat",
                    "livechat",
                    {
                        "chat_id": conv.id,
                        "thread_id": conv.thread,
                        "user": user,
                        "reason": "assigned",
                        "requester_id": agent.email,
                    },
                    conv.id,
                    at,
                ),
            ]

        return act

    def _message(self, conv: Conversation) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            agent = conv.agent
            assert agent is not None
            by_consumer = conv.consumer_turn
            conv.consumer_turn = not by_consumer
            conv.messages_left -= 1
            conv.sequence += 1
            text = self.rng.choice(CONSUMER_LINES if by_consumer else AGENT_LINES)
            origin = conv.consumer if by_consumer else agent.id
            role = "CONSUMER" if by_consumer else "ASSIGNED_AGENT"
            content = {
                "sequence": conv.sequence - 1,
                "originatorId": origin,
                "originatorMetadata": {"id": origin, "role": role},
                "serverTimestamp": at,
                "dialogId": conv.id,
                "conversationId": conv.id,
                "event": {"type": "ContentEvent", "message": text, "contentType": "text/plain"},
            }
            chat_event = {
                "id": f"{conv.thread}_{conv.sequence}",
                "created_at": iso(at),
                "type": "message",
                "text": text,
                "author_id": conv.consumer if by_consumer else agent.email,
                "visibility": "all",
            }
            key = conv.id
            if by_consumer:
                data_event = self._event(
                    conv.account,
                    "MessageConsumerEvent",
                    "liveperson-data",
                    {"convDetails": {"convId": conv.id}},
                    key,
                    at,
                )
                ttr = self._ttr(conv, at + TTR_MS, at)
            else:
                data_event = self._event(
                    conv.account,
                    "MessageAgentEvent",
                    "liveperson-data",
                    {"convDetails": {"convId": conv.id}, "agentDetails": self._agent_details(agent, True)},
                    key,
                    at,
                )
                ttr = self._ttr(conv, -1, at)
            if conv.messages_left > 0:
                self._at(at + 2000 + self.rng.randrange(8000), self._message(conv))
            else:
                self._at(at + 2000 + self.rng.randrange(5000), self._end(conv))
            return [
                *data_event,
                *self._event(conv.account, f"{MS}.ContentEvent", "liveperson-connector", content, key, at),
                *self._event(
                    conv.account,
                    "incoming_event",
                    "livechat",
                    {"chat_id": conv.id, "thread_id": conv.thread, "event": chat_event},
                    key,
                    at,
                ),
                *ttr,
            ]

        return act

    def _end(self, conv: Conversation) -> Callable[[int], list[SimEvent]]:
        def act(at: int) -> list[SimEvent]:
            agent = conv.agent
            assert agent is not None
            agent.conversations.discard(conv.id)
            key = conv.id
            return [
                *self._event(
                    conv.account,
                    "ParticipantAgentLeaveEvent",
                    "liveperson-data",
                    {"convDetails": {"convId": conv.id}, "agentDetails": self._agent_details(agent, None)},
                    key,
                    at,
                ),
                *self._event(
                    conv.account,
                    "user_removed_from_chat",
                    "livechat",
                    {
                        "chat_id": conv.id,
                        "thread_id": conv.thread,
                        "user_id": agent.email,
                        "reason": "manual",
                        "requester_id": agent.email,
                    },
                    key,
                    at,
                ),
                *self._event(
                    conv.account,
                    "ConversationEndEvent",
                    "liveperson-data",
                    {"convDetails": {"convId": conv.id}},
                    key,
                    at,
                ),
                *self._event(
                    conv.account, CQM, "liveperson-connector", self._cqm(conv, "CLOSE", at), key, at
                ),
                *self._event(
                    conv.account,
                    "chat_deactivated",
                    "livechat",
                    {"chat_id": conv.id, "thread_id": conv.thread, "user_id": agent.email},
                    key,
                    at,
                ),
            ]

        return act


def parse_families(text: str) -> frozenset[Family]:
    """`liveperson-data,livechat` → the families; ValueError on an unknown name."""
    chosen: set[Family] = set()
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        match = [f for f in FAMILIES if f == name]
        if not match:
            raise ValueError(f"unknown family {name!r}; choose from {', '.join(FAMILIES)}")
        chosen.add(match[0])
    if not chosen:
        raise ValueError("choose at least one family")
    return frozenset(chosen)
