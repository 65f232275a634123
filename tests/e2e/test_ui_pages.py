"""The dashboard over plain HTTP against a live server: sign-in and its cookie, CSRF on every form, and
tenant scoping exactly like the API (another account's objects answer 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from dashboard_client import Ui, personal_token
from e2e_harness import Api, Herald, Receiver, unique

PAGES = ["subscriptions", "credentials", "deliveries", "health", "event-types"]


@pytest.fixture
def ui(herald: Herald) -> Any:
    client = Ui(herald)
    yield client
    client.close()


def seeded(api: Api, receiver: Receiver, account: str) -> dict[str, Any]:
    """A credential, a Data Transporter subscription and one settled delivery in `account`."""
    path = receiver.new_path("ui")
    cred = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "c", "scheme": "lp-signature"}
    )
    sub = api.account_subscription(
        account,
        receiver.url(path),
        ["AgentStateChangedEvent"],
        profile="liveperson-data",
        credential_id=cred["id"],
        name=unique("sub"),
    )
    sample = api.expect(200, "GET", "/v1/event-types/AgentStateChangedEvent")["sample"]
    event_id = api.publish(account, {"type": "AgentStateChangedEvent", "data": sample})["ids"][0]
    delivery = api.settled(account, event_id=event_id)
    return {"credential": cred, "subscription": sub, "delivery": delivery, "path": path}


def test_unauthenticated_pages_redirect_to_sign_in(herald: Herald, ui: Ui, account: str) -> None:
    for page in ["/ui/", "/ui/accounts", "/ui/applications", *(f"/ui/a/{account}/{p}" for p in PAGES)]:
        resp = ui.get(page)
        assert resp.status_code == 303, (page, resp.status_code)
        assert resp.headers["location"] == "/ui/sign-in"
    # A forged or tampered cookie is no session either.
    ui.http.cookies.set("herald_ui", "forged.value.sig", path="/ui")
    assert ui.get(f"/ui/a/{account}/subscriptions").headers.get("location") == "/ui/sign-in"
    sign_in = ui.get("/ui/sign-in")
    assert sign_in.status_code == 200 and 'name="token"' in sign_in.text


def test_sign_in_cookie_and_bad_tokens(herald: Herald, api: Api, ui: Ui, account: str) -> None:
    bad = ui.sign_in("hpat_not-a-real-token")
    assert bad.status_code == 401 and "not valid" in bad.text and "set-cookie" not in bad.headers
    app = api.create_application(unique("app"))
    api.install(app["id"], account)

    oauth = httpx.post(
        herald.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(app["client_id"], app["client_secret"]),
    ).json()["access_token"]
    refused = ui.sign_in(oauth)
    assert refused.status_code == 401 and "Application tokens" in refused.text

    # Login CSRF: a sign-in posted from another site is refused, and sets no cookie.
    token = personal_token(api, account)
    cross = ui.http.post("/ui/sign-in", data={"token": token}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers

    resp = ui.sign_in(token)
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/"
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    # The token is not readable in the cookie (it is encrypted, then signed).
    assert "hpat_" not in resp.headers["set-cookie"]
    home = ui.get("/ui/")
    assert home.headers["location"] == f"/ui/a/{account}/subscriptions"
    page = ui.get(f"/ui/a/{account}/subscriptions")
    assert page.status_code == 200 and "content-security-policy" in page.headers


def test_revoked_token_ends_the_session(herald: Herald, api: Api, ui: Ui, account: str) -> None:
    created = api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={"name": "soon revoked"})
    assert ui.sign_in(created["token"]).status_code == 303
    assert ui.get(f"/ui/a/{account}/credentials").status_code == 200
    api.expect(204, "DELETE", f"/v1/accounts/{account}/tokens/{created['id']}")
    assert ui.get(f"/ui/a/{account}/credentials").headers.get("location") == "/ui/sign-in"


def test_account_token_sees_only_its_account(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    other = unique("acct")
    mine = seeded(api, receiver, account)
    theirs = seeded(api, receiver, other)
    assert ui.sign_in(personal_token(api, account)).status_code == 303

    listing = ui.get(f"/ui/a/{account}/subscriptions")
    assert mine["subscription"]["id"] in listing.text
    assert theirs["subscription"]["id"] not in listing.text
    assert ui.get(f"/ui/a/{account}/subscriptions/{mine['subscription']['id']}").status_code == 200
    assert ui.get(f"/ui/a/{account}/deliveries/{mine['delivery']['id']}").status_code == 200

    sub_b, delivery_b = theirs["subscription"]["id"], theirs["delivery"]["id"]
    not_found = [
        *(f"/ui/a/{other}/{p}" for p in PAGES),
        f"/ui/a/{other}/subscriptions/{sub_b}",
        f"/ui/a/{other}/deliveries/{delivery_b}",
        f"/ui/a/{other}/subscriptions/new",
        f"/ui/a/{other}/event-types/AgentStateChangedEvent",
        # The other account's objects through my own account's paths.
        f"/ui/a/{account}/subscriptions/{sub_b}",
        f"/ui/a/{account}/deliveries/{delivery_b}",
        "/ui/applications",
        "/ui/no-such-page",
    ]
    for path in not_found:
        resp = ui.get(path)
        assert resp.status_code == 404, (path, resp.status_code)
        assert resp.headers["content-type"].startswith("text/html") and "Not found" in resp.text
        # Only what was asked for is echoed; nothing of the object itself.
        assert theirs["path"] not in resp.text and theirs["subscription"]["name"] not in resp.text
    # The other account's deliveries are not in my log, even when asked for by subscription.
    log = ui.get(f"/ui/a/{account}/deliveries", params={"subscription_id": sub_b})
    assert log.status_code == 200 and delivery_b not in log.text

    csrf = ui.csrf(f"/ui/a/{account}/subscriptions")
    posts = [
        (f"/ui/a/{other}/deliveries/{delivery_b}/resend", {}),
        (f"/ui/a/{account}/deliveries/{delivery_b}/resend", {}),
        (f"/ui/a/{other}/subscriptions/{sub_b}/toggle", {"enabled": "false"}),
        (f"/ui/a/{account}/subscriptions/{sub_b}/toggle", {"enabled": "false"}),
        (f"/ui/a/{other}/credentials", {"name": "x", "scheme": "bearer"}),
        (f"/ui/a/{other}/event-types/AgentStateChangedEvent/test", {"data": "{}"}),
    ]
    for path, data in posts:
        resp = ui.post(path, data, csrf=csrf)
        assert resp.status_code == 404, (path, resp.status_code, resp.text[:300])
    # Nothing changed in the other account.
    assert api.expect(200, "GET", f"/v1/accounts/{other}/subscriptions/{sub_b}")["enabled"] is True
    assert len(api.expect(200, "GET", f"/v1/accounts/{other}/credentials")["data"]) == 1
    assert api.delivery(other, delivery_b)["attempts"] == 1


def test_admin_sees_every_account(herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str) -> None:
    seeded_one = seeded(api, receiver, account)
    assert ui.sign_in(herald.token).status_code == 303
    assert ui.get("/ui/").headers["location"] == "/ui/accounts"
    assert account in ui.get("/ui/accounts").text
    detail = ui.get(f"/ui/a/{account}/deliveries/{seeded_one['delivery']['id']}")
    assert detail.status_code == 200 and "commonHeader" in detail.text
    assert ui.get("/ui/applications").status_code == 200


def test_forms_need_the_session_csrf_token(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    one = seeded(api, receiver, account)
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    sub_id, delivery_id = one["subscription"]["id"], one["delivery"]["id"]
    forms = [
        (f"/ui/a/{account}/credentials", {"name": "csrf-less", "scheme": "bearer"}),
        (f"/ui/a/{account}/subscriptions/{sub_id}/toggle", {"enabled": "false"}),
        (f"/ui/a/{account}/deliveries/{delivery_id}/resend", {}),
        (f"/ui/a/{account}/event-types/AgentStateChangedEvent/test", {"data": "{}"}),
        ("/ui/sign-out", {}),
    ]
    for path, data in forms:
        for csrf in (None, "wrong-token"):
            resp = ui.post(path, data, csrf=csrf)
            assert resp.status_code == 403, (path, csrf, resp.status_code)
            assert "security token" in resp.text
    # Nothing happened: one credential, the subscription still enabled, one attempt, still signed in.
    assert len(api.expect(200, "GET", f"/v1/accounts/{account}/credentials")["data"]) == 1
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")["enabled"] is True
    assert api.delivery(account, delivery_id)["attempts"] == 1
    assert ui.get(f"/ui/a/{account}/credentials").status_code == 200
    # With the token, the same form works.
    assert ui.post(f"/ui/a/{account}/subscriptions/{sub_id}/toggle", {"enabled": "false"}).status_code == 303
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")["enabled"] is False


def test_scopes_apply_like_the_api(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    """A read-only token reads the delivery log but cannot resend or configure (403 pages)."""
    one = seeded(api, receiver, account)
    assert ui.sign_in(personal_token(api, account, scopes=["deliveries:read"])).status_code == 303
    detail = ui.get(f"/ui/a/{account}/deliveries/{one['delivery']['id']}")
    assert detail.status_code == 200 and ">Resend<" not in detail.text
    csrf = ui.csrf(f"/ui/a/{account}/deliveries")
    resend = ui.post(f"/ui/a/{account}/deliveries/{one['delivery']['id']}/resend", {}, csrf=csrf)
    assert resend.status_code == 403 and "deliveries:rw" in resend.text
    assert ui.get(f"/ui/a/{account}/subscriptions").status_code == 403
    assert api.delivery(account, one["delivery"]["id"])["attempts"] == 1


def test_forms_show_what_is_wrong_and_store_nothing(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    csrf = ui.csrf(f"/ui/a/{account}/subscriptions")
    form = {"name": "dt", "url": receiver.url("/x"), "event_types": ["AgentStateChangedEvent"]}
    no_credential = ui.post(f"/ui/a/{account}/subscriptions", form, csrf=csrf)
    assert no_credential.status_code == 422 and "needs a credential" in no_credential.text
    assert receiver.url("/x") in no_credential.text  # what was typed is kept
    bad_url = ui.post(
        f"/ui/a/{account}/subscriptions", {**form, "url": "ftp://nope", "credential_id": "cred_x"}, csrf=csrf
    )
    assert bad_url.status_code == 422 and "http:// or https://" in bad_url.text
    wildcard = ui.post(f"/ui/a/{account}/subscriptions", {**form, "event_types": ["*"]}, csrf=csrf)
    assert wildcard.status_code == 422 and "not Data Transporter events" in wildcard.text
    cred = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "c", "scheme": "bearer"}
    )
    no_gateway = ui.post(
        f"/ui/a/{account}/subscriptions", {**form, "credential_id": cred["id"], "mtls": "on"}, csrf=csrf
    )
    assert no_gateway.status_code == 422 and "no mTLS gateway" in no_gateway.text
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"] == []
    api.expect(204, "DELETE", f"/v1/accounts/{account}/credentials/{cred['id']}")

    invalid = ui.post(
        f"/ui/a/{account}/event-types/AgentStateChangedEvent/test", {"data": '{"agentId": 5}'}, csrf=csrf
    )
    assert invalid.status_code == 422 and "agentId" in invalid.text
    not_json = ui.post(f"/ui/a/{account}/event-types/AgentStateChangedEvent/test", {"data": "{"}, csrf=csrf)
    assert not_json.status_code == 422
    assert (
        ui.post(f"/ui/a/{account}/event-types/no.such.type/test", {"data": "{}"}, csrf=csrf).status_code
        == 404
    )
    no_name = ui.post(f"/ui/a/{account}/credentials", {"name": "", "scheme": "bearer"}, csrf=csrf)
    assert no_name.status_code == 422
    assert api.expect(200, "GET", f"/v1/accounts/{account}/credentials")["data"] == []


def test_delivery_log_filters(herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str) -> None:
    one = seeded(api, receiver, account)
    delivery_id, sub_id = one["delivery"]["id"], one["subscription"]["id"]
    assert ui.sign_in(personal_token(api, account)).status_code == 303

    def shown(**params: str) -> bool:
        resp = ui.get(f"/ui/a/{account}/deliveries", params=params)
        assert resp.status_code == 200, resp.text[:300]
        return delivery_id in resp.text

    assert shown()
    assert shown(status="delivered") and not shown(status="dead")
    assert shown(subscription_id=sub_id) and not shown(subscription_id="sub_other")
    assert shown(event_type="AgentStateChangedEvent") and not shown(event_type="ConversationEndEvent")
    assert shown(since="2000-01-01T00:00:00", until="2999-01-01T00:00:00")
    assert not shown(since="2999-01-01T00:00") and not shown(until="2000-01-01T00:00")
    assert ui.get(f"/ui/a/{account}/deliveries", params={"status": "nope"}).status_code == 422
    assert ui.get(f"/ui/a/{account}/deliveries", params={"since": "yesterday"}).status_code == 422
    # The admin's account picker only opens account ids.
    assert ui.sign_in(herald.token).status_code == 303
    assert (
        ui.get("/ui/accounts", params={"go": account}).headers["location"] == f"/ui/a/{account}/subscriptions"
    )
    assert ui.get("/ui/accounts", params={"go": "../../x"}).status_code == 422


def ui_routes() -> list[tuple[str, str]]:
    """Every (method, path template) of the dashboard's account pages, read from its routers, so a new page
    joins the cross-tenant walk below without being listed by hand."""
    from fastapi.routing import APIRoute

    from herald.ui.app import ROUTERS

    out = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                if method != "HEAD":
                    out.append((method, route.path))
    return out


def test_every_account_page_hides_other_accounts(
    herald: Herald, api: Api, receiver: Receiver, ui: Ui, account: str
) -> None:
    """As account A: every account page of account B answers 404, and every page naming one of B's objects
    answers 404 under A's own account too, for GET and POST alike; B is unchanged afterwards."""
    other = unique("acct")
    seeded(api, receiver, account)
    theirs = seeded(api, receiver, other)
    their_job = api.expect(
        202,
        "POST",
        f"/v1/accounts/{other}/subscriptions/{theirs['subscription']['id']}/recover",
        json={"since": "2020-01-01T00:00:00Z"},
    )
    their_app = api.create_application(unique("app"))
    api.install(their_app["id"], other)
    values = {
        "subscription_id": theirs["subscription"]["id"],
        "delivery_id": theirs["delivery"]["id"],
        "job_id": their_job["id"],
        "app_id": their_app["id"],
        "name": "AgentStateChangedEvent",
    }
    assert ui.sign_in(personal_token(api, account)).status_code == 303
    csrf = ui.csrf(f"/ui/a/{account}/subscriptions")
    walked = 0
    for method, template in ui_routes():
        if "{account_id}" not in template:
            continue  # /accounts and /applications: admin pages, checked separately
        # B's objects are hidden under B's account and under A's own; event types are global, so pages
        # without an object id are walked under B's account only.
        has_object = any(
            f"{{{k}}}" in template for k in ("subscription_id", "delivery_id", "job_id", "app_id")
        )
        owners = [other, account] if has_object else [other]
        for owner in owners:
            path = template.replace("{account_id}", owner)
            for key, value in values.items():
                path = path.replace(f"{{{key}}}", value)
            resp = (
                ui.get(path)
                if method == "GET"
                else ui.post(
                    path,
                    {
                        "enabled": "false",
                        "name": "x",
                        "scheme": "bearer",
                        "data": "{}",
                        "since": "2020-01-01",
                    },
                    csrf=csrf,
                )
            )
            assert resp.status_code == 404, (method, path, resp.status_code, resp.text[:300])
            walked += 1
    assert walked >= 15
    assert ui.get("/ui/applications").status_code == 404
    assert api.expect(200, "GET", f"/v1/accounts/{other}/subscriptions/{values['subscription_id']}")[
        "enabled"
    ]
    assert len(api.expect(200, "GET", f"/v1/accounts/{other}/credentials")["data"]) == 1
    assert len(api.expect(200, "GET", f"/v1/accounts/{other}/subscriptions")["data"]) == 1
    assert api.delivery(other, values["delivery_id"])["attempts"] == 1
    assert [j["id"] for j in api.expect(200, "GET", f"/v1/accounts/{other}/jobs")["data"]] == [
        their_job["id"]
    ]


def test_mtls_toggle_sets_delivery_through_the_gateway(
    herald_factory: Callable[..., Herald], receiver: Receiver, account: str
) -> None:
    deployed = herald_factory(
        "sqlite", HERALD_MTLS_GATEWAY_URL="http://127.0.0.1:9/", HERALD_GATEWAY_TOKEN="t"
    )
    api = deployed.api
    client = Ui(deployed)
    try:
        cred = api.expect(
            201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "c", "scheme": "bearer"}
        )
        assert client.sign_in(personal_token(api, account)).status_code == 303
        form = {
            "name": "via gateway",
            "url": receiver.url("/mtls"),
            "credential_id": cred["id"],
            "event_types": ["AgentStateChangedEvent", "TTRStatusEvent"],
        }
        for mtls, expected in (("on", True), (None, False)):
            resp = client.post(f"/ui/a/{account}/subscriptions", {**form, **({"mtls": mtls} if mtls else {})})
            assert resp.status_code == 303, resp.text[:500]
            sub_id = resp.headers["location"].rsplit("/", 1)[1]
            sub = api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub_id}")
            assert sub["mtls_via_gateway"] is expected and sub["profile"] == "liveperson-data"
            assert sorted(sub["event_types"]) == ["AgentStateChangedEvent", "TTRStatusEvent"]
    finally:
        client.close()
