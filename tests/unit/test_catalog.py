"""The built-in event catalog: samples validate, mutated samples do not, schemas export."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain import catalog, livechat
from herald.domain.catalog import CATALOG, liveperson_data, validate_event_data
from herald.domain.models import ClaimedDelivery, Endpoint
from herald.domain.profiles import LivePersonDataProfile

NAMES = sorted(CATALOG)


def test_the_catalog_has_every_documented_type() -> None:
    families = {f: sum(s.family == f for s in CATALOG.values()) for f in catalog.FAMILIES}
    assert families == {"liveperson-data": 10, "liveperson-connector": 5, "livechat": 41}
    # Every LiveChat action of every served version (v3.3 to v3.7) has its model, and nothing else.
    assert {s.name for s in CATALOG.values() if s.family == "livechat"} == set(livechat.ACTION_FILTERS)
    for spec in CATALOG.values():
        assert spec.schema_version.count("-") == 2 and all(
            p.isdigit() for p in spec.schema_version.split("-")
        )
        assert spec.description


@pytest.mark.parametrize("name", NAMES)
def test_sample_validates_and_schema_exports(name: str) -> None:
    spec = CATALOG[name]
    assert validate_event_data(name, spec.sample) == []
    schema = spec.json_schema()
    json.dumps(schema)
    assert schema.get("type") == "object" or "oneOf" in schema or "anyOf" in schema


def _wrong_type(value: Any) -> Any:
    return "not-an-object" if isinstance(value, dict) else {"wrong": [1]}


@pytest.mark.parametrize("name", NAMES)
def test_mutated_samples_fail(name: str) -> None:
    sample = CATALOG[name].sample
    target = sample["changes"][0] if "changes" in sample else sample
    outcomes: dict[str, bool] = {"missing": False, "null": False, "wrong": False}
    for key in target:
        for kind in outcomes:
            mutated = copy.deepcopy(sample)
            where = mutated["changes"][0] if "changes" in mutated else mutated
            if kind == "missing":
                del where[key]
            else:
                where[key] = None if kind == "null" else _wrong_type(where[key])
            errors = validate_event_data(name, mutated)
            if errors:
                outcomes[kind] = True
                assert all(isinstance(e["field"], str) and e["message"] for e in errors)
    assert outcomes == {"missing": True, "null": True, "wrong": True}, name


def test_error_paths_name_the_nested_field() -> None:
    errors = validate_event_data("AgentStateChangedEvent", {"agentDetails": {"agentId": 5, "agentName": "x"}})
    assert [e["field"] for e in errors] == ["agentDetails.agentId"]
    errors = validate_event_data("TTRStatusEvent", {"effectiveTtr": "soon", "convDetails": {}})
    assert {e["field"] for e in errors} == {"effectiveTtr", "convDetails.convId"}
    errors = validate_event_data(
        "cqm.ExConversationChangeNotification", {"changes": [{"type": "UPSERT", "result": {}}]}
    )
    assert [e["field"] for e in errors] == ["changes.0.result.convId"]
    assert validate_event_data("TTRStatusEvent", "text")[0]["field"] == ""


def test_documented_details() -> None:
    # Strict: a number in a string is not a Long; a bool is not a Long either.
    assert validate_event_data("AgentSnapshotEvent", {"agentId": "a", "agentName": "b", "maxSlots": "4"})
    assert validate_event_data("AgentSnapshotEvent", {"agentId": "a", "agentName": "b", "maxSlots": True})
    # Double accepts integers; nullable numbers may be null or left out.
    assert not validate_event_data(
        "AgentSnapshotEvent", {"agentId": "a", "agentName": "b", "totalAssignedConvWeight": 2}
    )
    assert not validate_event_data("AgentSnapshotEvent", {"agentId": "a", "agentName": "b", "maxSlots": None})
    # convId is nullable for message events, not for conversation request/end.
    assert not validate_event_data("MessageConsumerEvent", {"convDetails": {"convId": None}})
    assert validate_event_data("ConversationEndEvent", {"convDetails": {"convId": None}})
    assert validate_event_data("TTRStatusEvent", {"effectiveTtr": -1, "convDetails": {"convId": "c"}}) == []
    # The router closing a chat leaves user_id out.
    assert not validate_event_data("chat_deactivated", {"chat_id": "c", "thread_id": "t"})
    # Connector data: one change or {"changes": [...]}, the sub-type checked.
    change = CATALOG["ms.MessagingEventNotification.ChatStateEvent"].sample
    assert not validate_event_data(
        "ms.MessagingEventNotification.ChatStateEvent", {"changes": [change, change]}
    )
    assert validate_event_data("ms.MessagingEventNotification.ContentEvent", change)
    # Unknown keys pass (schemas grow by ADDITION); custom types take anything.
    assert not validate_event_data(
        "ConversationEndEvent", {"convDetails": {"convId": "c", "skill": "x"}, "n": 1}
    )
    assert validate_event_data("order.created", {"anything": [1, None]}) == []


def test_data_profile_takes_schema_version_from_the_catalog(
    monkeypatch: pytest.MonkeyPatch, make_claimed: Callable[..., ClaimedDelivery]
) -> None:
    assert catalog.schema_version("AgentStateChangedEvent") == "1-0-0"
    assert catalog.schema_version("custom.type") == "1-0-0"
    spec = CATALOG["AgentStateChangedEvent"]
    monkeypatch.setitem(CATALOG, spec.name, dataclasses.replace(spec, schema_version="1-2-3"))
    endpoint = Endpoint("sub_1", "https://example.com/dt", "liveperson-data", "secret", None)
    for event_type, version in (("AgentStateChangedEvent", "1-2-3"), ("custom.type", "1-0-0")):
        request = LivePersonDataProfile().render(make_claimed(event_type=event_type), endpoint, 0)
        assert orjson.loads(request.body)["commonHeader"]["schemaVersion"] == version


DT_MODELS = [spec.model for spec in CATALOG.values() if spec.family == "liveperson-data"]


@pytest.mark.parametrize("model", DT_MODELS, ids=lambda m: m.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_generated_valid_data_validates(model: type[liveperson_data.Data], data: st.DataObject) -> None:
    optional = {
        name: st.none() | st.from_type(field.annotation)  # type: ignore[arg-type]
        for name, field in model.model_fields.items()
        if not field.is_required() and field.annotation is not None
    }
    instance = data.draw(st.builds(model, **optional))
    payload = instance.model_dump()
    assert validate_event_data(model.__name__, payload) == []


def test_livechat_agent_deleted_takes_either_id() -> None:
    assert validate_event_data("agent_deleted", {"id": "a"}) == []
    assert validate_event_data("agent_deleted", {"agent_id": "a"}) == []
    assert validate_event_data("agent_deleted", {})[0]["message"].endswith("(id, or agent_id as in v3.3)")
