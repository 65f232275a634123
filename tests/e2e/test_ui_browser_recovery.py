"""Recovery in a real browser (system Chromium via Playwright) against a live Herald and a real receiver:
recover the dead deliveries of a subscription from its page, watch the job page reload itself (a plain meta
refresh, no script) until the job is done, then replay one event type and find the replays in the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard_client import needs_chromium, personal_token
from e2e_harness import Api, Herald, Receiver, unique, wait_until

pytestmark = needs_chromium()


def delivered(receiver: Receiver, path: str) -> list[Any]:
    return [r for r in receiver.requests(path) if r.status == 200]


def test_recover_and_replay_from_the_browser(
    herald: Herald, api: Api, receiver: Receiver, page: Any, account: str
) -> None:
    base = herald.base_url
    path = receiver.new_path("ui-browser-rec")
    receiver.script(path, default=500)
    sub = api.account_subscription(account, receiver.url(path), ["uib.a", "uib.b"], name=unique("brec"))
    events = {unique("evt-uib"): "uib.a", unique("evt-uib"): "uib.a", unique("evt-uib"): "uib.b"}
    api.publish(account, *({"id": e, "type": t, "data": {"e": e}} for e, t in events.items()))
    for event_id in events:
        assert api.settled(account, event_id=event_id, timeout=20)["status"] == "dead"
    receiver.script(path, default=200)

    page.goto(f"{base}/ui/sign-in")
    page.fill("#token", personal_token(api, account))
    page.click("button[type=submit]")
    page.wait_for_url(f"**/ui/a/{account}/subscriptions")

    # Recover a time range from the subscription's page.
    page.goto(f"{base}/ui/a/{account}/subscriptions/{sub['id']}")
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#recover-form input[name=since]", since)
    page.click("#recover-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/ui/a/{account}/jobs/job_\w+$"))
    recover_id = page.url.rsplit("/", 1)[1]
    # The page reloads itself while the job runs: no reload from the test.
    page.locator("#job-status", has_text="succeeded").wait_for()
    assert "3 / 3 deliveries looked at" in page.locator("#job-progress").inner_text()
    assert page.locator("#job-affected").inner_text().startswith("3 ")
    wait_until("the recovered deliveries to arrive", lambda: len(delivered(receiver, path)) == 3, 15)
    job = api.expect(200, "GET", f"/v1/accounts/{account}/jobs/{recover_id}")
    assert (job["kind"], job["status"], job["affected"]) == ("recover", "succeeded", 3)

    # Replay only uib.a.
    page.goto(f"{base}/ui/a/{account}/subscriptions/{sub['id']}")
    page.fill("#replay-form input[name=since]", since)
    page.select_option("#replay-form select[name=event_types]", ["uib.a"])
    page.click("#replay-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/ui/a/{account}/jobs/job_\w+$"))
    replay_id = page.url.rsplit("/", 1)[1]
    page.locator("#job-status", has_text="succeeded").wait_for()
    assert page.locator("#job-affected").inner_text().startswith("2 ")

    # The replays in the delivery log, marked, and filtered with the form.
    page.click("text=The deliveries this replay made")
    page.wait_for_url(f"**replay_of={replay_id}")
    rows = page.locator("table.deliveries tbody tr")
    assert rows.count() == 2
    assert rows.locator(".pill.replay").count() == 2
    page.goto(f"{base}/ui/a/{account}/deliveries?subscription_id={sub['id']}")
    page.select_option("select[name=is_replay]", "false")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**is_replay=false**")
    assert rows.count() == 3 and rows.locator(".pill.replay").count() == 0
    page.select_option("select[name=is_replay]", "true")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**is_replay=true**")
    assert rows.count() == 2
    rows.first.locator("text=details").click()
    assert replay_id in page.locator("#replay-of").inner_text()
    page.click(f"#replay-of >> text={replay_id}")
    page.wait_for_url(f"**/jobs/{replay_id}")

    # Both jobs are listed.
    page.click("nav >> text=Jobs")
    page.wait_for_url(f"**/ui/a/{account}/jobs")
    assert page.locator(f"a[href$='/jobs/{recover_id}']").count() == 1
    assert page.locator(f"a[href$='/jobs/{replay_id}']").count() == 1
