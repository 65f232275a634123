"""The built-in event catalog over HTTP, and publish refusing data a built-in type's model refuses."""

from __future__ import annotations

from e2e_harness import Api, unique
from test_api import assert_error


def test_list_and_get_event_types(api: Api) -> None:
    listed = [t for t in api.expect(200, "GET", "/v1/event-types")["data"] if t["family"] != "custom"]
    names = {t["name"] for t in listed}
    assert {"AgentSnapshotEvent", "cqm.ExConversationChangeNotification", "incoming_chat"} <= names
    assert len(listed) == 56
    assert all(set(t) == {"name", "family", "schema_version", "description"} for t in listed)

    livechat = api.expect(200, "GET", "/v1/event-types", params={"family": "livechat"})["data"]
    assert len(livechat) == 41 and {t["family"] for t in livechat} == {"livechat"}
    assert_error(api.request("GET", "/v1/event-types", params={"family": "nope"}), 422, "validation")

    detail = api.expect(200, "GET", "/v1/event-types/AgentStateChangedEvent")
    assert detail["family"] == "liveperson-data" and detail["schema_version"] == "1-0-0"
    assert "agentDetails" in detail["schema"]["properties"]
    assert detail["sample"]["agentDetails"]["agentId"]
    dotted = api.expect(200, "GET", "/v1/event-types/ms.MessagingEventNotification.ContentEvent")
    assert dotted["sample"]["event"]["type"] == "ContentEvent"

    error = assert_error(api.request("GET", "/v1/event-types/order.created"), 404, "not_found")
    assert error["data"]["field"] == "name"


def test_event_types_need_authentication(api: Api) -> None:
    resp = api.http.get("/v1/event-types", headers={"authorization": "Bearer nope"})
    assert_error(resp, 401, "authentication")


def test_publish_refuses_a_batch_with_bad_builtin_data(api: Api, account: str) -> None:
    good = {"agentDetails": {"agentId": "a-1", "agentName": "Ada"}, "stateCode": "ONLINE", "stateDesc": None}
    ids = [unique("evt-cat") for _ in range(4)]
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/events",
        json={
            "events": [
                {"id": ids[0], "type": "AgentStateChangedEvent", "data": good},
                {"id": ids[1], "type": "AgentStateChangedEvent", "data": {"agentDetails": {"agentId": 7}}},
                {"id": ids[2], "type": "custom.thing", "data": {"agentDetails": 1}},
                {"id": ids[3], "type": "TTRStatusEvent", "data": {"effectiveTtr": "x", "convDetails": {}}},
            ]
        },
    )
    error = assert_error(resp, 422, "validation")
    assert error["data"]["field"] == "events.1.data.agentDetails.agentId"
    failing = {(e["index"], e["field"]) for e in error["data"]["errors"]}
    assert failing == {
        (1, "events.1.data.agentDetails.agentId"),
        (1, "events.1.data.agentDetails.agentName"),
        (3, "events.3.data.effectiveTtr"),
        (3, "events.3.data.convDetails.convId"),
    }
    # Nothing of the batch was stored: publishing the good one now is new, not a duplicate.
    for event_id in ids:
        assert api.deliveries(account, event_id=event_id) == []
    out = api.publish(account, {"id": ids[0], "type": "AgentStateChangedEvent", "data": good})
    assert out == {"ids": [ids[0]], "duplicates": []}

    # A single event: the path starts at data.
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/events",
        json={"type": "ConversationEndEvent", "data": {"convDetails": {"convId": None}}},
    )
    error = assert_error(resp, 422, "validation")
    assert error["data"]["field"] == "data.convDetails.convId"
    assert error["data"]["errors"][0]["index"] == 0
