"""A newcomer's first path through the dashboard in a real browser (Playwright, the system Chromium),
against a live Herald: `GET /` leads to sign-in; an application (made as the Quickstart makes it) is
installed and subscribed to a request bin of the inspector; the account's Subscriptions page lists that
application subscription; a test event is sent from the event catalog; its delivery and attempt are shown;
the Inspector link in the navigation opens the bin with the request Herald delivered."""

from __future__ import annotations

import json
import re
from typing import Any

from dashboard_client import needs_chromium
from e2e_harness import Api, Herald, unique, wait_until

pytestmark = needs_chromium()


def test_a_newcomer_sends_a_test_event_and_sees_it_arrive(herald: Herald, api: Api, page: Any) -> None:
    base = herald.base_url
    account = unique("acct-newcomer")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # The bare address leads to the dashboard's sign-in; the admin lands on the accounts.
    page.goto(f"{base}/")
    assert page.url.endswith("/ui/sign-in")
    page.fill("#token", herald.token)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/accounts")

    # The inspector, linked from the navigation: a bin to deliver to, in the dashboard's style.
    page.click("nav >> text=Inspector")
    page.wait_for_url(f"{base}/inspect")
    assert page.locator("header.top .brand").inner_text() == "Herald"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    page.fill("#token", herald.token)
    page.dispatch_event("#token", "change")
    page.fill("#account", account)
    page.fill("#name", "first hour")
    page.click("#create button")
    page.wait_for_url(f"{base}/inspect/bins/bin_*")
    bin_page = page.url
    page.locator("#status", has_text="live").wait_for()
    capture_url = page.locator("#url").inner_text()

    # An application, installed into the account and subscribed to the bin (the Quickstart's steps).
    app = api.create_application(unique("newcomer app"))
    api.install(app["id"], account)
    sub = api.app_subscription(app["id"], capture_url, ["*"], name="my first hook")

    # The account's Subscriptions page lists the application's subscription, which fires for it.
    page.goto(f"{base}/ui/a/{account}/subscriptions")
    listed = page.locator("#application-subscriptions tbody tr")
    assert listed.count() == 1 and "my first hook" in listed.first.inner_text()
    assert capture_url in listed.first.inner_text()

    # Send the catalog's sample of a built-in event type as a test event.
    page.click("nav >> text=Event types")
    page.click("text=AgentStateChangedEvent")
    page.click("text=Send test event")
    published = page.locator("#published")
    assert "1 deliveries" in published.inner_text()
    event_id = published.locator(".mono").inner_text().strip()

    # The delivery and its attempt.
    page.click("text=See its deliveries")
    row = page.locator("table.deliveries tbody tr")

    def delivered() -> bool:
        page.reload()
        return "delivered" in row.first.inner_text()

    wait_until("the test event to be delivered", delivered, 20, interval=0.3)
    row.first.locator("text=details").click()
    assert page.locator("#delivery-status").inner_text() == "delivered"
    attempt = page.locator("section.attempt")
    assert attempt.count() == 1 and "HTTP 200" in attempt.first.inner_text()
    assert sub["id"] in page.content()

    # Resend says what it did.
    with page.expect_navigation():
        page.click("button:text('Resend')")
    assert "Resent: one more attempt is queued now" in page.locator("#resent").inner_text()

    # Back in the inspector: the request Herald delivered, with its signature headers.
    page.goto(bin_page)
    request = page.locator(".request").last
    request.wait_for()
    request.locator("summary").click()
    assert "webhook-signature" in request.inner_text()
    assert json.loads(request.locator("pre.body").inner_text())["type"] == "AgentStateChangedEvent"
    assert re.search(rf"{event_id}|webhook-id", request.inner_text())
    assert not [e for e in errors if "404" not in e], errors
