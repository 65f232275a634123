"""The inspector's HTML pages in a real browser (Playwright, the system Chromium): create a bin from /inspect,
then watch a request sent to its capture URL arrive live on the bin's page (EventSource on a ticket)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from dashboard_client import launch_chromium, needs_chromium
from e2e_harness import Herald, unique
from playwright import sync_api

pytestmark = needs_chromium()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_create_a_bin_and_watch_a_request_arrive_live(
    herald_factory: Callable[..., Herald], backend: str
) -> None:
    h = herald_factory(backend)
    account = unique("acct-browser")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{h.base_url}/inspect")
            page.fill("#token", h.token)
            page.dispatch_event("#token", "change")
            page.fill("#account", account)
            page.fill("#name", "browser bin")
            page.click("#create button")
            page.wait_for_url(f"{h.base_url}/inspect/bins/bin_*")
            sync_api.expect(page.locator("#status")).to_have_text("live", timeout=10_000)
            capture_url = page.locator("#url").inner_text()
            assert capture_url.startswith(f"{h.base_url}/inspect/bins/bin_") and capture_url.endswith("/hook")

            sent = unique("hello from the test")
            assert httpx.post(capture_url + "/browser", content=sent.encode(), timeout=10).status_code == 200
            row = page.locator(".request", has_text="POST /browser")
            sync_api.expect(row).to_have_count(1, timeout=10_000)
            row.locator("summary").click()
            sync_api.expect(row.locator("pre.body")).to_have_text(sent)
            # Only the API (with the token) saw the bin: the page itself carries no data.
            bins = h.api.expect(200, "GET", "/v1/inspect/bins", params={"account_id": account})["data"]
            assert [b["name"] for b in bins] == ["browser bin"]
            # No script blocked by the Content-Security-Policy, no request refused (the favicon may 404).
            assert not [e for e in errors if "404" not in e], errors
        finally:
            browser.close()
