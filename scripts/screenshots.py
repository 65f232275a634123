"""Screenshots of the dashboard's main pages for the README, taken with the same Playwright + system
Chromium setup as the browser tests, against a real `herald serve` seeded with real deliveries.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--seed-seconds 90]

Seeding publishes events for `--seed-seconds` to a real receiver on loopback (one healthy endpoint, one
slow and flaky one), so the health charts have something to show.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import httpx  # noqa: E402
from dashboard_client import launch_chromium, personal_token  # noqa: E402
from e2e_harness import Api, Received, Receiver, Reply, deployment  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ACCOUNT = "acme-support"
DT_TYPES = ["AgentStateChangedEvent", "ConversationEndEvent", "MessageConsumerEvent"]


def healthy(_: Received, n: int) -> Reply:
    return Reply(200, delay=random.uniform(0.01, 0.06) + (0.05 if n % 7 == 0 else 0.0))


def flaky(_: Received, n: int) -> Reply:
    return Reply(503 if random.random() < 0.3 else 200, delay=random.uniform(0.05, 0.35))


def recovery_shots(page: Any, api: Api, base: str, shot: Callable[..., None]) -> None:
    """Recover the flaky hook's dead deliveries and replay its events from its page; the job pages."""
    subs = api.expect(200, "GET", f"/v1/accounts/{ACCOUNT}/subscriptions")["data"]
    legacy = next(s for s in subs if s["name"] == "Legacy order hook")
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    sub_page = f"{base}/ui/a/{ACCOUNT}/subscriptions/{legacy['id']}"
    page.goto(sub_page)
    page.fill("#recover-form input[name=since]", since)
    page.fill("#replay-form input[name=since]", since)
    page.select_option("#replay-form select[name=event_types]", ["order.created"])
    shot("subscription-recovery")
    page.click("#recover-form button[type=submit]")
    page.locator("#job-status", has_text="succeeded").wait_for(timeout=60_000)
    shot("job")
    page.goto(sub_page)
    page.fill("#replay-form input[name=since]", since)
    page.click("#replay-form button[type=submit]")
    page.locator("#job-status", has_text="succeeded").wait_for(timeout=60_000)
    time.sleep(3)  # let some replays land
    shot("jobs", f"/ui/a/{ACCOUNT}/jobs")
    shot("deliveries-replays", f"/ui/a/{ACCOUNT}/deliveries?is_replay=true", full_page=False)


def inspector_shot(page: Any, api: Api, base: str, token: str, shot: Callable[..., None]) -> None:
    """The inspector's bin list, and a bin's page with captured requests, the last one arriving live over
    the event stream."""
    made = api.expect(
        201,
        "POST",
        "/v1/inspect/bins",
        json={"account_id": ACCOUNT, "name": "orders receiver", "response": {"status": 202, "body": "ok"}},
    )
    headers = {"content-type": "application/json", "x-order-signature": "sha256=5b1f0c9e"}
    page.click("nav >> text=Inspector")  # linked from the dashboard
    page.fill("#token", token)
    page.dispatch_event("#token", "change")
    page.wait_for_selector("#bins li")
    shot("inspector-index")
    httpx.post(made["url"] + "/orders?attempt=1", json={"order": 17, "total": 42.5}, headers=headers)
    page.goto(base + f"/inspect/bins/{made['id']}")
    page.fill("#token", token)
    page.dispatch_event("#token", "change")
    page.wait_for_selector("details.request")
    page.wait_for_selector("#status:text('live')")
    httpx.put(made["url"] + "/orders/17", json={"order": 17, "status": "shipped"}, headers=headers)
    page.locator("details.request").nth(1).wait_for()  # arrived live (the page's CSP forbids eval)
    page.click("details.request summary")
    shot("inspector")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--seed-seconds", type=float, default=90.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    random.seed(6)
    receiver = Receiver()
    receiver.handle("/transporter", healthy)
    receiver.handle("/legacy", flaky)
    with tempfile.TemporaryDirectory() as tmp, deployment("sqlite", Path(tmp)) as herald:
        api = herald.api
        app = api.create_application("Acme Bot")
        api.install(app["id"], ACCOUNT, max_retries=3)
        api.install(app["id"], "globex")
        # An application subscription fires for the account too (listed on its Subscriptions page).
        api.app_subscription(app["id"], receiver.url("/transporter"), ["order.*"], name="Acme Bot orders")
        # An application made from a LivePerson manifest (read as such on the Applications page).
        api.expect(
            201,
            "POST",
            f"/v1/accounts/{ACCOUNT}/app-installations",
            json={
                "client_name": "Acme messaging connector",
                "description": "Routes conversation events to the bot",
                "capabilities": {"webhooks": {"retry": {"retention_time": 3600}}},
            },
        )
        cred = api.expect(
            201,
            "POST",
            f"/v1/accounts/{ACCOUNT}/credentials",
            json={"name": "transporter signing key", "scheme": "lp-signature"},
        )
        api.account_subscription(
            ACCOUNT,
            receiver.url("/transporter"),
            DT_TYPES,
            name="Data Transporter → warehouse",
            profile="liveperson-data",
            credential_id=cred["id"],
        )
        api.account_subscription(
            ACCOUNT, receiver.url("/legacy"), ["order.created"], name="Legacy order hook", max_retries=2
        )
        samples = {t: api.expect(200, "GET", f"/v1/event-types/{t}")["sample"] for t in DT_TYPES}
        deadline = time.monotonic() + args.seed_seconds
        n = 0
        while time.monotonic() < deadline:
            t = DT_TYPES[n % len(DT_TYPES)]
            api.publish(
                ACCOUNT,
                {"type": t, "data": samples[t]},
                {"type": "order.created", "data": {"order": n, "total": round(random.uniform(5, 90), 2)}},
            )
            n += 1
            time.sleep(random.uniform(0.4, 1.2))
        time.sleep(3)  # let the last retries land

        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            base = herald.base_url

            def shot(name: str, url: str | None = None, full_page: bool = True) -> None:
                if url:
                    page.goto(base + url)
                page.screenshot(path=str(args.out / f"{name}.png"), full_page=full_page)
                print("saved", args.out / f"{name}.png")

            shot("sign-in", "/ui/sign-in")
            page.fill("#token", personal_token(api, ACCOUNT))
            page.click("button[type=submit]")
            page.wait_for_url("**/subscriptions")
            shot("subscriptions")
            page.goto(base + f"/ui/a/{ACCOUNT}/credentials")
            page.fill("#cred-name", "bearer for staging")
            page.select_option("#scheme", "bearer")
            page.click("text=Generate key")
            shot("credentials-generated")
            page.goto(base + f"/ui/a/{ACCOUNT}/subscriptions/new")
            page.fill("#name", "Data Transporter → analytics")
            page.fill("#url", "https://analytics.example.com/liveperson")
            page.select_option("#credential_id", label="transporter signing key (lp-signature)")
            page.select_option("#event_types", ["AgentStateChangedEvent", "MessageAgentEvent"])
            shot("data-transporter-form")
            shot("deliveries", f"/ui/a/{ACCOUNT}/deliveries", full_page=False)
            failed = api.deliveries(ACCOUNT, status="dead") or api.deliveries(ACCOUNT)
            shot("delivery", f"/ui/a/{ACCOUNT}/deliveries/{failed[0]['id']}")
            page.click("button:text('Resend')")
            page.wait_for_selector("#resent")
            shot("delivery-resent", full_page=False)
            shot("health", f"/ui/a/{ACCOUNT}/health?window=10m")
            shot("health-24h", f"/ui/a/{ACCOUNT}/health?window=24h", full_page=False)
            shot("event-types", f"/ui/a/{ACCOUNT}/event-types", full_page=False)
            shot("event-type", f"/ui/a/{ACCOUNT}/event-types/AgentStateChangedEvent")
            recovery_shots(page, api, base, shot)
            page.click("text=Sign out")
            page.fill("#token", herald.token)
            page.click("button[type=submit]")
            shot("applications", "/ui/applications")
            inspector_shot(page, api, base, herald.token, shot)
            browser.close()
    receiver.close()


if __name__ == "__main__":
    main()
