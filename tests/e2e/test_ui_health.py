"""The dashboard's endpoint health against a live Herald (both backends) and real receivers: the state the
health API computes (disabled with its reason), Re-enable / Disable forms that release waiting deliveries,
rate limits edited like PATCH, the operational events page, installation state and transitions, tenant
scoping and CSRF."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from dashboard_client import Ui, personal_token
from e2e_harness import Api, Herald, Received, Receiver, Reply, unique, wait_until

LP_CONTENT = "ms.MessagingEventNotification.ContentEvent"
FAST_TTL = {
    "HERALD_LIVEPERSON_TTL_BACKOFF": "0.2",
    "HERALD_LIVEPERSON_DRAIN_PERIOD": "1.5",
    "HERALD_LIVEPERSON_TTL_CHECK": "0.1",
}


@pytest.fixture
def ui(herald: Herald) -> Any:
    client = Ui(herald)
    yield client
    client.close()


def card(page: str, sub_id: str) -> str:
    """The health page's section of one subscription."""
    found = re.search(rf'<section class="card endpoint" id="sub-{sub_id}">(.*?)</section>', page, re.S)
    assert found, f"no health card for {sub_id}"
    return html.unescape(found.group(1))


def subscription(api: Api, account: str, sub_id: str) -> dict[str, Any]:
    return api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")


def test_disabled_by_the_api_shows_its_reason_and_re_enable_works(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("h")), ["uh.event"], name="shop")
    off = api.expect(200, "POST", f"/v1/accounts/{account}/subscriptions/{sub['id']}/disable")
    health = api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}/health")
    assert health["state"] == "disabled"
    assert ui.sign_in(personal_token(api, account)).status_code == 303

    page = ui.get(f"/ui/a/{account}/health")
    assert page.status_code == 200
    shown = card(page.text, sub["id"])
    assert ">disabled</span>" in shown and off["disabled_reason"] in shown
    assert "circuit closed" in shown and ">Re-enable</button>" in shown
    detail = ui.get(f"/ui/a/{account}/subscriptions/{sub['id']}").text
    assert off["disabled_reason"] in html.unescape(detail) and ">Re-enable</button>" in detail

    resp = ui.post(f"/ui/a/{account}/subscriptions/{sub['id']}/enable", {"back": "health"})
    assert resp.status_code == 303 and resp.headers["location"] == f"/ui/a/{account}/health"
    on = subscription(api, account, sub["id"])
    assert on["enabled"] is True and on["disabled_reason"] is None
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}/health")["state"] == (
        "enabled"
    )
    shown = card(ui.get(f"/ui/a/{account}/health").text, sub["id"])
    assert ">enabled</span>" in shown and ">Disable</button>" in shown and "Disabled" not in shown

    # Disable from the UI: the same as POST …/disable (manual reason).
    assert ui.post(f"/ui/a/{account}/subscriptions/{sub['id']}/disable", {}).status_code == 303
    again = subscription(api, account, sub["id"])
    assert again["enabled"] is False and again["disabled_reason"].startswith("manual:")

    # Both changes are on the operational events page, newest first.
    events = ui.get(f"/ui/a/{account}/operational-events")
    assert events.status_code == 200
    kinds = re.findall(r'<code class="event-type">([^<]+)</code>', events.text)
    assert kinds == ["endpoint.disabled", "endpoint.enabled", "endpoint.disabled"]
    assert sub["id"] in events.text and 'href="/ui/a/' + account + '/operational-events"' in events.text


def test_re_enable_releases_the_waiting_delivery(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    """410 disables the endpoint and its delivery waits; Re-enable from the health page delivers it to the
    (now answering) receiver."""
    path = receiver.new_path("gone")
    receiver.script(path, 410, default=200)
    sub = api.account_subscription(account, receiver.url(path), ["uh.gone"])
    event = unique("evt")
    api.publish(account, {"id": event, "type": "uh.gone", "data": {"n": 1}})
    disabled = wait_until(
        "410 to disable the endpoint",
        lambda: (s := subscription(api, account, sub["id"]))["enabled"] is False and s,
        15,
    )
    [waiting] = api.deliveries(account, event_id=event)
    assert waiting["status"] == "pending" and waiting["attempts"] == 1

    assert ui.sign_in(personal_token(api, account)).status_code == 303
    shown = card(ui.get(f"/ui/a/{account}/health").text, sub["id"])
    assert ">disabled</span>" in shown and disabled["disabled_reason"] in shown
    assert disabled["disabled_reason"].startswith("gone:")
    assert "1 attempts" in shown and "<svg" in shown  # the charts of its one (failed) attempt

    csrf = ui.csrf(f"/ui/a/{account}/health")
    resp = ui.post(f"/ui/a/{account}/subscriptions/{sub['id']}/enable", {"back": "health"}, csrf=csrf)
    assert resp.status_code == 303
    assert subscription(api, account, sub["id"])["enabled"] is True
    done = api.settled(account, event_id=event, timeout=20)
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert len(receiver.requests(path)) == 2


def test_rate_limits_round_trip(herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str) -> None:
    sub = api.account_subscription(account, receiver.url(receiver.new_path("rl")), ["uh.rl"])
    base = f"/ui/a/{account}/subscriptions/{sub['id']}"
    assert ui.sign_in(personal_token(api, account)).status_code == 303

    limits = {"rate_limit": "2.5", "rate_limit_burst": "3", "max_concurrency": "4"}
    resp = ui.post(base + "/limits", limits)
    assert resp.status_code == 303 and resp.headers["location"] == base
    saved = subscription(api, account, sub["id"])
    assert (saved["rate_limit"], saved["rate_limit_burst"], saved["max_concurrency"]) == (2.5, 3, 4)
    page = ui.get(base).text
    assert 'name="rate_limit" inputmode="decimal" value="2.5"' in page
    assert 'name="max_concurrency" inputmode="numeric" value="4"' in page

    # The PATCH's validation: shown on the page, nothing stored.
    bad = ui.post(base + "/limits", {"rate_limit": "0", "rate_limit_burst": "x", "max_concurrency": "2000"})
    assert bad.status_code == 422
    text = html.unescape(bad.text)
    assert "rate_limit: Input should be greater than 0" in text
    assert (
        "rate_limit_burst:" in text and "max_concurrency: Input should be less than or equal to 1024" in text
    )
    assert subscription(api, account, sub["id"])["rate_limit"] == 2.5

    # Empty fields remove the limits.
    assert (
        ui.post(
            base + "/limits", {"rate_limit": "", "rate_limit_burst": "", "max_concurrency": ""}
        ).status_code
        == 303
    )
    cleared = subscription(api, account, sub["id"])
    assert (cleared["rate_limit"], cleared["rate_limit_burst"], cleared["max_concurrency"]) == (
        None,
        None,
        None,
    )


def test_installation_state_and_transitions(herald: Herald, api: Api, ui: Ui, account: str) -> None:
    plain = api.create_application(unique("plainapp"))
    api.install(plain["id"], account)
    manifest = {
        "client_name": unique("lpapp"),
        "description": "from a manifest",
        "capabilities": {"webhooks": {"retry": {"retention_time": 3600}}},
    }
    lp = api.expect(201, "POST", f"/v1/accounts/{account}/app-installations", json=manifest)
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    page = ui.get(f"/ui/a/{account}/health").text
    # Only the manifest's installation has a LivePerson delivery state; the plain one is just installed.
    lp_table = page[page.index('id="liveperson-installations"') : page.index('id="installed-applications"')]
    assert manifest["client_name"] in lp_table and ">UP</span>" in lp_table and plain["name"] not in lp_table
    plain_table = page[page.index('id="installed-applications"') :]
    assert plain["name"] in plain_table and "UP" not in plain_table
    link = f"/ui/a/{account}/installations/{lp['id']}/transitions"
    assert f'href="{link}"' in page
    transitions = ui.get(link)
    assert transitions.status_code == 200 and ">UP</span>" in transitions.text
    assert "No transition yet." in transitions.text
    assert ui.get(f"/ui/a/{account}/installations/app_not_installed/transitions").status_code == 404


def test_applications_page_reads_a_manifest_instead_of_showing_its_json(
    herald: Herald, api: Api, ui: Ui
) -> None:
    account = unique("acct-apps")
    name = unique("manifest app")
    body = {"client_name": name, "description": "Routes chats", "capabilities": {"webhooks": {}}}
    api.expect(201, "POST", f"/v1/accounts/{account}/app-installations", json=body)
    assert ui.sign_in(herald.token).status_code == 303
    page = ui.get("/ui/applications").text
    card = page[page.index(name) :]
    card = card[: card.index("</section>")]
    assert "LivePerson app installation" in card and "Routes chats" in card
    assert "liveperson-app-installation" not in card and "{&#34;" not in card and "&#34;kind" not in card


def test_other_accounts_objects_and_forms_without_csrf(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    other = unique("acct")
    theirs = api.account_subscription(other, receiver.url(receiver.new_path("b")), ["uh.b"], name="theirs")
    app = api.create_application(unique("lpapp"))
    api.install(app["id"], other)
    api.expect(200, "POST", f"/v1/accounts/{other}/subscriptions/{theirs['id']}/disable")
    assert ui.sign_in(personal_token(api, account)).status_code == 303

    for path in [
        f"/ui/a/{other}/health",
        f"/ui/a/{other}/operational-events",
        f"/ui/a/{other}/installations/{app['id']}/transitions",
        f"/ui/a/{account}/installations/{app['id']}/transitions",
        f"/ui/a/{account}/subscriptions/{theirs['id']}",
    ]:
        resp = ui.get(path)
        assert resp.status_code == 404, (path, resp.status_code)
        assert "theirs" not in resp.text
    # Their subscription is not on my health page, nor their events on my events page.
    assert theirs["id"] not in ui.get(f"/ui/a/{account}/health").text
    assert theirs["id"] not in ui.get(f"/ui/a/{account}/operational-events").text

    csrf = ui.csrf(f"/ui/a/{account}/health")
    for owner in (other, account):
        for action, data in (("enable", {}), ("disable", {}), ("limits", {"rate_limit": "1"})):
            resp = ui.post(f"/ui/a/{owner}/subscriptions/{theirs['id']}/{action}", data, csrf=csrf)
            assert resp.status_code == 404, (owner, action, resp.status_code)
    after = subscription(api, other, theirs["id"])
    assert after["enabled"] is False and after["rate_limit"] is None

    # My own forms without (or with a wrong) CSRF token: 403, nothing changes.
    mine = api.account_subscription(account, receiver.url(receiver.new_path("a")), ["uh.a"])
    base = f"/ui/a/{account}/subscriptions/{mine['id']}"
    for action, data in (("disable", {}), ("limits", {"rate_limit": "1"})):
        for token in (None, "wrong-token"):
            resp = ui.post(f"{base}/{action}", data, csrf=token)
            assert resp.status_code == 403 and "security token" in resp.text, (action, token)
    kept = subscription(api, account, mine["id"])
    assert kept["enabled"] is True and kept["rate_limit"] is None


def test_installation_ttl_cycle_on_the_health_transitions_and_events_pages(
    herald_factory: Callable[..., Herald], backend: str, receiver: Receiver
) -> None:
    """A LivePerson installation whose endpoint fails goes FAILED (shown with its time on the health page,
    with the transition and the installation.state_changed event), then round to UP again."""
    herald = herald_factory(backend, workers=1, **FAST_TTL)
    api = herald.api
    account = unique("acct-ttl")
    path = receiver.new_path("ttl")
    down = threading.Event()
    down.set()

    def switch(_: Received, n: int) -> Reply:
        return Reply(503) if down.is_set() else Reply(200)

    receiver.handle(path, switch)
    body = {
        "client_name": unique("ttl-app"),
        "capabilities": {
            "webhooks": {"retry": {"retention_time": 600}, LP_CONTENT: {"endpoint": receiver.url(path)}}
        },
    }
    app = api.expect(201, "POST", f"/v1/accounts/{account}/app-installations", json=body)
    base = f"/v1/accounts/{account}/app-installations/{app['id']}"
    change = {"sequence": 0, "conversationId": "conv-1", "event": {"type": "ContentEvent", "message": "hi"}}
    api.publish(account, {"type": LP_CONTENT, "data": change, "ordering_key": "conv-1"})
    failed = wait_until("FAILED", lambda: (i := api.expect(200, "GET", base))["state"] == "FAILED" and i, 15)

    client = Ui(herald)
    try:
        assert client.sign_in(personal_token(api, account)).status_code == 303
        page = client.get(f"/ui/a/{account}/health").text
        row = re.search(rf"<tr><td>{re.escape(body['client_name'])}</td>(.*?)</tr>", page, re.S)
        assert row, page[-2000:]
        assert ">FAILED</span>" in row.group(1)
        assert failed["state_changed_at"][:16].replace("T", " ") in row.group(1)  # minutes agree
        link = f"/ui/a/{account}/installations/{app['id']}/transitions"
        assert f'href="{link}"' in row.group(1)
        first = client.get(link).text
        assert re.search(r"<td>UP</td><td>FAILED</td>", first)

        down.clear()
        wait_until("UP again", lambda: api.expect(200, "GET", base)["state"] == "UP", 30)
        api_states = [
            f"{t['from_state']}>{t['to_state']}"
            for t in api.expect(200, "GET", base + "/transitions")["data"]
        ]
        shown = client.get(link).text
        ui_states = [f"{a}>{b}" for a, b in re.findall(r"<td>([A-Z_]+)</td><td>([A-Z_]+)</td>", shown)]
        assert ui_states == api_states and ui_states[0] == "RECOVERED>UP" and ui_states[-1] == "UP>FAILED"
        events = client.get(f"/ui/a/{account}/operational-events").text
        kinds = re.findall(r'<code class="event-type">([^<]+)</code>', events)
        assert kinds.count("installation.state_changed") == len(api_states)
    finally:
        client.close()
