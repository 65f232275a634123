"""The dashboard in a real browser (the system Chromium driven by Playwright) against a live Herald and a
real receiver: sign in with an account token, generate a credential, create a Data Transporter subscription
with the form, send a test event, follow its delivery and attempt, resend it, disable the subscription."""

from __future__ import annotations

import json
import re
from typing import Any

from dashboard_client import needs_chromium, personal_token
from e2e_harness import Api, Herald, Receiver, unique, wait_until

from herald.domain.signing import liveperson_signature

pytestmark = needs_chromium()


def reload_until(page: Any, what: str, probe: Any, timeout: float = 15.0) -> None:
    def check() -> bool:
        page.reload()
        return bool(probe())

    wait_until(what, check, timeout, interval=0.2)


def test_data_transporter_subscription_end_to_end(
    herald: Herald, api: Api, receiver: Receiver, page: Any, account: str
) -> None:
    base = herald.base_url
    path = receiver.new_path("ui-browser")
    event_type = "AgentStateChangedEvent"

    # Sign in: the browser is sent to the sign-in page first, then to the account's subscriptions.
    page.goto(f"{base}/ui/")
    assert page.url.endswith("/ui/sign-in")
    page.fill("#token", personal_token(api, account))
    page.click("button[type=submit]")
    page.wait_for_url(f"**/ui/a/{account}/subscriptions")
    assert page.locator(".top .account").inner_text() == account

    # Credentials: "Generate key" shows the secret once.
    page.click("nav >> text=Credentials")
    page.fill("#cred-name", "transporter key")
    page.select_option("#scheme", "lp-signature")
    page.click("text=Generate key")
    secret = page.locator("#new-secret").inner_text().strip()
    client_id = page.locator("#new-client-id").inner_text().strip()
    assert len(secret) > 20 and re.fullmatch(r"[0-9a-f]{32}", client_id)
    page.goto(f"{base}/ui/a/{account}/credentials")
    assert secret not in page.content()  # never shown again
    assert "transporter key" in page.content()

    # The Data Transporter form.
    page.goto(f"{base}/ui/a/{account}/subscriptions")
    page.click("text=New Data Transporter subscription")
    assert page.locator("#event_types option").count() == 10
    name = unique("dt")
    page.fill("#name", name)
    page.fill("#url", receiver.url(path))
    page.select_option("#credential_id", label="transporter key (lp-signature)")
    page.select_option("#event_types", [event_type, "ConversationEndEvent"])
    page.click("text=Create subscription")
    page.wait_for_url(re.compile(rf".*/ui/a/{account}/subscriptions/sub_\w+$"))
    sub_id = page.url.rsplit("/", 1)[1]
    stored = api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")
    assert stored["profile"] == "liveperson-data" and stored["name"] == name
    assert sorted(stored["event_types"]) == sorted([event_type, "ConversationEndEvent"])
    assert stored["credential_id"] and stored["mtls_via_gateway"] is False

    # Send the sample through the normal publish path with the test-event button.
    page.click("nav >> text=Event types")
    page.click(f"text={event_type}")
    assert '"agentId"' in page.locator("#data").input_value()
    page.click("text=Send test event")
    published = page.locator("#published")
    assert "1 deliveries" in published.inner_text()
    event_id = published.locator(".mono").inner_text().strip()

    got = receiver.wait_for(path, 1)
    body = got[0].body
    assert json.loads(body)["commonHeader"]["eventType"] == event_type
    assert got[0].headers["x-liveperson-client-id"] == client_id
    assert got[0].headers["x-liveperson-signature"] == liveperson_signature(secret, body, "sha256", "base64")

    # The delivery in the log, with its attempt.
    page.click("text=See its deliveries")
    row = page.locator("table.deliveries tbody tr")
    reload_until(page, "the delivery to be delivered", lambda: "delivered" in row.first.inner_text())
    assert row.count() == 1 and event_type in row.first.inner_text()
    row.first.locator("text=details").click()
    assert page.locator("#delivery-status").inner_text() == "delivered"
    attempts = page.locator("section.attempt")
    assert attempts.count() == 1
    assert "HTTP 200" in attempts.first.inner_text()
    assert "x-liveperson-signature" in attempts.first.locator("table.headers").inner_text()
    shown_body = json.loads(page.locator("#request-body").inner_text())
    assert shown_body == json.loads(body)  # the body shown is the body sent
    assert shown_body["commonHeader"]["uid"] == event_id

    # Resend: a second attempt, a second request at the receiver.
    with page.expect_navigation():  # the POST's redirect must land before the first reload
        page.click("button:text('Resend')")
    reload_until(page, "a second attempt", lambda: page.locator("section.attempt").count() == 2)
    assert len(receiver.wait_for(path, 2)) == 2
    assert receiver.requests(path)[1].body == body

    # Disable the subscription from its page.
    page.goto(f"{base}/ui/a/{account}/subscriptions/{sub_id}")
    page.click("button:text('Disable')")
    assert "disabled" in page.locator("dl.grid").inner_text()
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")["enabled"] is False

    # Health shows the endpoint with its attempts and charts.
    page.click("nav >> text=Health")
    card = page.locator("section.endpoint", has_text=name)
    assert "2 attempts" in card.inner_text() and "success 100.0%" in card.inner_text()
    assert card.locator("svg.chart").count() == 2

    # Sign out: the session is gone.
    page.click("text=Sign out")
    page.goto(f"{base}/ui/a/{account}/subscriptions")
    assert page.url.endswith("/ui/sign-in")
