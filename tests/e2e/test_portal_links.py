"""Customer portal links against a live Herald: the API (create, list, revoke, errors) and, in a real
Chromium, a portal link embedded in an iframe of a page served from another loopback origin: the session
sees one account and only the granted subscription, read-only hides the actions, the link works once,
revoking it ends the session, and an origin the operator did not list cannot embed the dashboard."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from dashboard_client import needs_chromium, personal_token
from e2e_harness import Api, Herald, Receiver, free_port, unique, wait_until
from test_api import assert_error

BROWSER = needs_chromium()


class EmbeddingSite:
    """A page on its own loopback origin whose only content is an iframe of `src`."""

    def __init__(self) -> None:
        self.src = "about:blank"
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "<!doctype html><title>SaaS</title><h1>Your webhooks</h1>"
                    f'<iframe id="portal" src="{site.src}" width="1100" height="700"></iframe>'
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[EmbeddingSite, EmbeddingSite]]:
    listed, other = EmbeddingSite(), EmbeddingSite()
    try:
        yield listed, other
    finally:
        listed.close()
        other.close()


def _link(api: Api, account: str, **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = api.expect(201, "POST", f"/v1/accounts/{account}/portal-links", json=body)
    return out


def test_portal_link_api(api: Api, account: str, receiver: Receiver) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("portal")), ["x.*"])
    link = _link(api, account, expires_in=600, read_only=True, subscription_ids=[sub["id"]])
    assert link["url"].startswith(api.base_url + "/ui/portal/hpl_")
    assert (link["read_only"], link["subscription_ids"], link["used_at"]) == (True, [sub["id"]], None)
    listed = api.expect(200, "GET", f"/v1/accounts/{account}/portal-links")
    assert [x["id"] for x in listed] == [link["id"]] and "url" not in listed[0]

    def bad(body: dict[str, Any], field: str) -> None:
        error = assert_error(
            api.request("POST", f"/v1/accounts/{account}/portal-links", json=body), 422, "validation"
        )
        assert error["data"]["field"] == field, error

    bad({"expires_in": 5}, "expires_in")
    bad({"expires_in": 600, "subscription_ids": [sub["id"], "sub_nope"]}, "subscription_ids.1")
    other = api.account_subscription(unique("acct"), receiver.url("/x"), ["x.*"])
    bad({"expires_in": 600, "subscription_ids": [other["id"]]}, "subscription_ids.0")

    # Nobody hands out more than they hold: a read-only token may create read-only links only.
    reader = personal_token(api, account, scopes=["deliveries:read", "webhooks.state:ro"])
    as_reader = httpx.Client(base_url=api.base_url, headers={"authorization": f"Bearer {reader}"})
    with as_reader:
        refused = as_reader.post(f"/v1/accounts/{account}/portal-links", json={"expires_in": 600})
        assert assert_error(refused, 403, "authorization")["data"]["scope"]
        ok = as_reader.post(
            f"/v1/accounts/{account}/portal-links", json={"expires_in": 600, "read_only": True}
        )
        assert ok.status_code == 201, ok.text
        assert_error(
            as_reader.post(
                f"/v1/accounts/{unique('acct')}/portal-links", json={"expires_in": 600, "read_only": True}
            ),
            404,
            "not_found",
        )

    api.expect(204, "DELETE", f"/v1/accounts/{account}/portal-links/{link['id']}")
    assert api.expect(200, "GET", f"/v1/accounts/{account}/portal-links")[1]["revoked_at"] is not None
    assert_error(api.request("DELETE", f"/v1/accounts/{account}/portal-links/plk_nope"), 404, "not_found")
    # A revoked link no longer signs in.
    assert httpx.get(link["url"], follow_redirects=False).status_code == 410


def _frame(page: Any) -> Any:
    return page.frame_locator("#portal")


@BROWSER
def test_portal_embedded_in_another_origin(
    herald_factory: Callable[..., Herald],
    receiver: Receiver,
    sites: tuple[EmbeddingSite, EmbeddingSite],
    page: Any,
) -> None:
    listed, other = sites
    herald = herald_factory("sqlite", HERALD_PORTAL_FRAME_ANCESTORS=listed.origin)
    api = herald.api
    account = unique("acct")
    granted = api.account_subscription(
        account, receiver.url(receiver.new_path("granted")), ["x.*"], name="granted-sub"
    )
    hidden = api.account_subscription(
        account, receiver.url(receiver.new_path("hidden")), ["x.*"], name="hidden-sub"
    )
    api.account_subscription(
        unique("acct"), receiver.url(receiver.new_path("elsewhere")), ["x.*"], name="other-account-sub"
    )
    api.publish(account, {"type": "x.y", "data": {"n": 1}})
    wait_until(
        "both deliveries",
        lambda: len([d for d in api.deliveries(account) if d["status"] == "delivered"]) == 2,
        10,
    )
    hidden_delivery = next(d for d in api.deliveries(account) if d["subscription_id"] == hidden["id"])

    link = _link(api, account, expires_in=600, read_only=True, subscription_ids=[granted["id"]])
    listed.src = link["url"]
    page.goto(listed.origin)
    frame = _frame(page)
    frame.locator("td", has_text="granted-sub").first.wait_for()
    content = page.frames[1].content()
    assert "hidden-sub" not in content and "other-account-sub" not in content
    # CSP names the listed origin; X-Frame-Options is gone.
    head = httpx.get(f"{herald.base_url}/ui/sign-in")
    assert head.headers["content-security-policy"].count(f"frame-ancestors 'self' {listed.origin}") == 1
    assert "x-frame-options" not in head.headers
    page.screenshot(path=str(herald.workdir / "portal-embedded.png"), full_page=True)

    # Read-only: the granted subscription's deliveries are visible, without Resend.
    inner = page.frames[1]
    inner.goto(f"{herald.base_url}/ui/a/{account}/deliveries")
    assert f"subscription_id={granted['id']}" in inner.url
    granted_delivery = next(d for d in api.deliveries(account) if d["subscription_id"] == granted["id"])
    inner.goto(f"{herald.base_url}/ui/a/{account}/deliveries/{granted_delivery['id']}")
    assert granted_delivery["id"] in inner.content()
    assert inner.locator("button:has-text('Resend')").count() == 0
    # Out of scope: the other subscription, its delivery, account-wide pages, another account → 404.
    for path in (
        f"/ui/a/{account}/subscriptions/{hidden['id']}",
        f"/ui/a/{account}/deliveries/{hidden_delivery['id']}",
        f"/ui/a/{account}/deliveries?subscription_id={hidden['id']}",
        f"/ui/a/{account}/credentials",
        f"/ui/a/{account}/health",
        f"/ui/a/{unique('acct')}/subscriptions",
        "/ui/accounts",
    ):
        response = inner.goto(herald.base_url + path)
        assert response is not None and response.status == 404, (path, response and response.status)

    # One time only: the same URL again is refused.
    assert httpx.get(link["url"], follow_redirects=False).status_code == 410
    # Revoking ends the session at once: the frame is sent to sign in.
    api.expect(204, "DELETE", f"/v1/accounts/{account}/portal-links/{link['id']}")
    inner.goto(f"{herald.base_url}/ui/a/{account}/subscriptions")
    assert inner.url.endswith("/ui/sign-in")

    # An origin the operator did not list cannot embed it (the browser blocks the frame).
    fresh = _link(api, account, expires_in=600)
    other.src = fresh["url"]
    page.goto(other.origin)
    page.wait_for_timeout(1500)
    assert len(page.frames) == 2
    assert "granted-sub" not in page.frames[1].content()


@BROWSER
def test_a_full_portal_link_can_resend(
    herald_factory: Callable[..., Herald], receiver: Receiver, page: Any
) -> None:
    herald = herald_factory("sqlite")
    api = herald.api
    account = unique("acct")
    api.account_subscription(account, receiver.url(receiver.new_path("full")), ["x.*"], name="full-sub")
    api.publish(account, {"type": "x.y", "data": {"n": "private-4711"}})
    [delivery] = wait_until(
        "the delivery", lambda: [d for d in api.deliveries(account) if d["status"] == "delivered"] or None, 10
    )
    link = _link(api, account, expires_in=120)
    page.goto(link["url"])
    page.wait_for_url(f"**/ui/a/{account}/subscriptions")
    assert "full-sub" in page.content()
    page.goto(f"{herald.base_url}/ui/a/{account}/deliveries/{delivery['id']}")
    page.click("button:has-text('Resend')")
    wait_until("a second attempt", lambda: api.delivery(account, delivery["id"])["attempts"] == 2, 10)
    page.goto(f"{herald.base_url}/ui/a/{account}/credentials")
    assert "Credentials" in page.content()

    # The dashboard marks an expunged event and offers no resend.
    api.expect(200, "DELETE", f"/v1/accounts/{account}/events/{delivery['event_id']}/content")
    page.goto(f"{herald.base_url}/ui/a/{account}/deliveries/{delivery['id']}")
    assert page.locator("#expunged-badge").inner_text() == "content expunged"
    assert "was expunged" in page.locator("#request-body").inner_text()
    assert page.locator("button:has-text('Resend')").count() == 0
    page.screenshot(path=str(herald.workdir / "delivery-expunged.png"), full_page=True)
