"""Expunge over HTTP against a live Herald (both backends): the content and the response bodies are gone
from what the API shows, resend answers 409 `expunged`, and errors are the usual JSON."""

from __future__ import annotations

from e2e_harness import Api, Receiver, Reply, unique, wait_until
from test_api import assert_error


def test_expunge_event_content(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("expunge")
    receiver.script(path, default=Reply(200, body=b'{"seen": "private-4711"}'))
    api.account_subscription(account, receiver.url(path), ["gdpr.*"])
    event_id = unique("evt-gdpr")
    api.publish(
        account, {"id": event_id, "type": "gdpr.thing", "data": {"email": "private-4711@example.com"}}
    )
    receiver.wait_for(path, 1)
    [delivery] = wait_until(
        "the delivery to be recorded",
        lambda: [d for d in api.deliveries(account, event_id=event_id) if d["status"] == "delivered"] or None,
        timeout=10,
    )
    before = api.delivery(account, delivery["id"])
    assert before["event"]["data"] == {"email": "private-4711@example.com"}
    assert before["attempt_log"][0]["response_body"] == '{"seen": "private-4711"}'

    out = api.expect(200, "DELETE", f"/v1/accounts/{account}/events/{event_id}/content")
    assert (out["event_id"], out["attempts_cleared"], out["deliveries_stopped"]) == (event_id, 1, 0)

    after = api.delivery(account, delivery["id"])
    assert after["event"]["data"] is None
    assert after["event"]["expunged_at"] == out["expunged_at"]
    assert "private-4711" not in str(after)
    [attempt] = after["attempt_log"]
    assert (attempt["response_body"], attempt["status_code"]) == (None, 200)

    error = assert_error(
        api.request("POST", f"/v1/accounts/{account}/deliveries/{delivery['id']}/resend"), 409, "conflict"
    )
    assert (error["data"]["reason"], error["data"]["field"]) == ("expunged", "event_id")
    again = api.expect(200, "DELETE", f"/v1/accounts/{account}/events/{event_id}/content")
    assert again["expunged_at"] == out["expunged_at"]

    missing = api.request("DELETE", f"/v1/accounts/{account}/events/no-such-event/content")
    assert assert_error(missing, 404, "not_found")["data"]["field"] == "event_id"
    elsewhere = api.request("DELETE", f"/v1/accounts/{unique('acct')}/events/{event_id}/content")
    assert_error(elsewhere, 404, "not_found")
