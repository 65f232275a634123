"""Custom event types over HTTP: registered by the admin with a versioned JSON Schema, listed with the
built-ins, and publish validating their data like a built-in type's."""

from __future__ import annotations

from e2e_harness import Api, Receiver, unique
from test_api import assert_error

ORDER = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 0}, "currency": {"type": "string"}},
    "required": ["amount"],
}


def test_register_publish_and_version_custom_types(api: Api, receiver: Receiver, account: str) -> None:
    name = unique("order.created")
    created = api.expect(
        201, "POST", "/v1/event-types", json={"name": name, "version": "1-0-0", "schema": ORDER}
    )
    assert created["family"] == "custom" and created["schema_version"] == "1-0-0"
    assert created["schema"] == ORDER and created["versions"] == ["1-0-0"]
    try:
        listed = {t["name"]: t for t in api.expect(200, "GET", "/v1/event-types")["data"]}
        assert listed[name] == {
            "name": name,
            "family": "custom",
            "schema_version": "1-0-0",
            "description": "",
        }
        custom = api.expect(200, "GET", "/v1/event-types", params={"family": "custom"})["data"]
        assert name in {t["name"] for t in custom} and {t["family"] for t in custom} == {"custom"}
        assert api.expect(200, "GET", f"/v1/event-types/{name}")["schema"] == ORDER

        # Good data is accepted and delivered to a subscriber of the type.
        path = receiver.new_path("custom")
        api.account_subscription(account, receiver.url(path), [name])
        good = unique("evt-custom")
        api.publish(account, {"id": good, "type": name, "data": {"amount": 5, "currency": "EUR"}})
        receiver.wait_for(path, 1)
        assert receiver.requests(path)[0].json()["data"]["amount"] == 5
        api.settled(account, event_id=good)

        # Bad data: 422 naming every failing event, like a built-in type.
        resp = api.request(
            "POST",
            f"/v1/accounts/{account}/events",
            json={
                "events": [
                    {"type": name, "data": {"amount": 1}},
                    {"type": "not.registered", "data": {"amount": "anything"}},
                    {"type": name, "data": {"amount": "x"}},
                    {"type": name, "data": {"currency": "EUR"}},
                ]
            },
        )
        error = assert_error(resp, 422, "validation")
        assert error["data"]["field"] == "events.2.data.amount"
        assert {(e["index"], e["field"]) for e in error["data"]["errors"]} == {
            (2, "events.2.data.amount"),
            (3, "events.3.data.amount"),
        }

        # Versions only increase; a new version applies at once.
        too_old = api.request(
            "POST", "/v1/event-types", json={"name": name, "version": "0-9-0", "schema": {}}
        )
        assert assert_error(too_old, 422, "validation")["data"]["field"] == "version"
        same = api.request("POST", "/v1/event-types", json={"name": name, "version": "1-0-0", "schema": {}})
        assert_error(same, 409, "conflict")
        loose = {"type": "object"}
        api.expect(201, "POST", "/v1/event-types", json={"name": name, "version": "1-1-0", "schema": loose})
        detail = api.expect(200, "GET", f"/v1/event-types/{name}")
        assert detail["schema_version"] == "1-1-0" and detail["versions"] == ["1-0-0", "1-1-0"]
        api.publish(account, {"type": name, "data": {"amount": "x"}})
    finally:
        for version in ("1-1-0", "1-0-0"):
            api.request("DELETE", f"/v1/event-types/{name}/versions/{version}")
    assert_error(api.request("GET", f"/v1/event-types/{name}"), 404, "not_found")
    gone = api.request("DELETE", f"/v1/event-types/{name}/versions/1-0-0")
    assert_error(gone, 404, "not_found")


def test_registration_refusals(api: Api) -> None:
    builtin = {"name": "AgentSnapshotEvent", "version": "1-0-0", "schema": {}}
    assert assert_error(api.request("POST", "/v1/event-types", json=builtin), 409, "conflict")["data"] == {
        "field": "name"
    }
    name = unique("bad.schema")
    bad = api.request(
        "POST", "/v1/event-types", json={"name": name, "version": "1-0-0", "schema": {"type": 7}}
    )
    error = assert_error(bad, 422, "validation")
    assert error["data"]["field"].startswith("schema") and "schema" in error["message"]
    huge = {"name": name, "version": "1-0-0", "schema": {"description": "x" * 70_000}}
    assert_error(api.request("POST", "/v1/event-types", json=huge), 422, "validation")
    version = api.request("POST", "/v1/event-types", json={"name": name, "version": "1.0", "schema": {}})
    assert assert_error(version, 422, "validation")["data"]["field"] == "version"
    assert_error(api.request("GET", f"/v1/event-types/{name}"), 404, "not_found")
