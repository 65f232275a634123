"""The simulate model: deterministic with a seed, catalog-valid, conversations in a sensible order."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from herald.domain.catalog import CATALOG, Family, validate_event_data
from herald.simulate.model import SNAPSHOT_INTERVAL_MS, START_MS, Simulation, parse_families


def run(seed: int, families: frozenset[Family] | None = None) -> Simulation:
    return Simulation(accounts=2, agents=3, rate=40, seed=seed, families=families)


def test_a_seed_gives_the_same_stream() -> None:
    a, b, c = run(7), run(7), run(8)
    first = [e.body() for e in a.advance_to(START_MS + 300_000)]
    assert first == [e.body() for e in b.advance_to(START_MS + 300_000)]
    assert first != [e.body() for e in c.advance_to(START_MS + 300_000)]


def test_every_event_validates_against_the_catalog() -> None:
    events = run(1).advance_to(START_MS + 600_000)
    types = {e.type for e in events}
    assert {
        "ConversationRequestEvent",
        "ParticipantAgentAddEvent",
        "MessageConsumerEvent",
        "MessageAgentEvent",
        "TTRStatusEvent",
        "AgentStateChangedEvent",
        "ConversationEndEvent",
        "AgentSnapshotEvent",
        "cqm.ExConversationChangeNotification",
        "ms.MessagingEventNotification.ContentEvent",
        "incoming_chat",
        "user_added_to_chat",
        "incoming_event",
        "routing_status_set",
        "chat_deactivated",
    } <= types
    for event in events:
        assert event.type in CATALOG, event.type
        assert CATALOG[event.type].family == event.family
        assert validate_event_data(event.type, event.data) == [], (event.type, event.data)
    assert len({e.id for e in events}) == len(events)


def test_a_conversations_events_come_in_order() -> None:
    events = run(3).advance_to(START_MS + 900_000)
    by_conv: dict[str, list[str]] = defaultdict(list)
    times: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.type in {"AgentSnapshotEvent", "AgentStateChangedEvent", "routing_status_set"}:
            continue
        by_conv[event.ordering_key].append(event.type)
        times[event.ordering_key].append(event.at_ms)
    ended = [k for k, types in by_conv.items() if "ConversationEndEvent" in types]
    assert ended, "some conversations end within 15 minutes"
    for key in ended:
        types = by_conv[key]
        assert types[0] == "ConversationRequestEvent"
        assert times[key] == sorted(times[key])
        request = types.index("ConversationRequestEvent")
        join = types.index("ParticipantAgentAddEvent")
        first_message = types.index("MessageConsumerEvent")
        end = types.index("ConversationEndEvent")
        assert request < join < first_message < end
        assert types[-1] == "chat_deactivated"
        assert types.count("ConversationRequestEvent") == types.count("ConversationEndEvent") == 1
        assert "MessageAgentEvent" in types


def test_snapshots_every_30_s_per_agent() -> None:
    sim = run(5)
    events = sim.advance_to(START_MS + 300_000)
    snaps: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in events:
        if event.type == "AgentSnapshotEvent":
            snaps[(event.account, event.data["agentId"])].append(event.at_ms)
    assert len(snaps) == 2 * 3
    for stamps in snaps.values():
        assert len(stamps) == 10
        assert all(b - a == SNAPSHOT_INTERVAL_MS for a, b in itertools.pairwise(stamps))
        assert stamps[0] < START_MS + SNAPSHOT_INTERVAL_MS


def test_families_filter_and_rate() -> None:
    sim = run(2, families=parse_families("livechat"))
    events = sim.advance_to(START_MS + 600_000)
    assert events and {e.family for e in events} == {"livechat"}
    full = run(2).advance_to(START_MS + 600_000)
    assert 15 < len(full) / 600 < 60, "close to the asked 40 events/s"
    with pytest.raises(ValueError, match="unknown family"):
        parse_families("liveperson-data,nope")
