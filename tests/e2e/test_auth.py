"""Authentication and tenant isolation against a live server: OAuth client credentials, personal access
tokens, scopes, the cross-tenant walk over every authenticated route, and the failed-auth limiter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from e2e_harness import Api, Herald, Receiver, unique
from test_api import assert_error

ALL_SCOPES = {
    "webhooks.configuration:rw",
    "webhooks.state:rw",
    "webhooks.state:ro",
    "events:publish",
    "deliveries:read",
    "deliveries:rw",
}


def oauth(herald: Herald, app: dict[str, Any], **params: str) -> httpx.Response:
    """POST /oauth/token the usual way: form body, client authenticated with HTTP Basic."""
    return httpx.post(
        herald.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", **params},
        auth=(app["client_id"], app["client_secret"]),
        timeout=10,
    )


def token_api(herald: Herald, token: str) -> Api:
    return Api(herald.base_url, token)


def app_token(herald: Herald, app: dict[str, Any], **params: str) -> str:
    resp = oauth(herald, app, **params)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def installed_app(api: Api, *accounts: str) -> dict[str, Any]:
    app = api.create_application(unique("app"))
    for account in accounts:
        api.install(app["id"], account)
    return app


# ------------------------------------------------------------------------------------------ OAuth


def test_oauth_client_credentials_flow(herald: Herald, api: Api, receiver: Receiver, account: str) -> None:
    app = installed_app(api, account)
    resp = oauth(herald, app)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    out = resp.json()
    assert out["token_type"] == "Bearer" and out["expires_in"] == 3600
    assert set(out["scope"].split()) == ALL_SCOPES
    assert out["access_token"].startswith("hoat_")

    # The same with the client authenticated in the body, form-encoded or JSON.
    body = {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    assert httpx.post(herald.base_url + "/oauth/token", data=body, timeout=10).status_code == 200
    assert httpx.post(herald.base_url + "/oauth/token", json=body, timeout=10).status_code == 200

    mine = token_api(herald, out["access_token"])
    # Its own application: visible, configurable; the list holds only it.
    assert mine.expect(200, "GET", f"/v1/applications/{app['id']}")["client_id"] == app["client_id"]
    assert [a["id"] for a in mine.expect(200, "GET", "/v1/applications")["data"]] == [app["id"]]
    mine.app_subscription(app["id"], receiver.url(receiver.new_path("oauth")), ["oauth.event"])
    # The account it is installed in: publish and read; any other account does not exist for it.
    assert mine.publish(account, {"type": "oauth.event", "data": {}})["ids"]
    mine.expect(200, "GET", f"/v1/accounts/{account}/deliveries")
    other = unique("acct-other")
    assert_error(
        mine.request("POST", f"/v1/accounts/{other}/events", json={"type": "a", "data": {}}), 404, "not_found"
    )
    # Creating applications and installing stays with the admin.
    assert_error(mine.request("POST", "/v1/applications", json={"name": "x"}), 403, "authorization")
    install = mine.request("POST", f"/v1/applications/{app['id']}/installations", json={"account_id": other})
    assert_error(install, 403, "authorization")


def test_oauth_errors_are_rfc6749_and_say_nothing_about_which_part(
    herald: Herald, api: Api, account: str
) -> None:
    app = installed_app(api, account)
    wrong_secret = dict(app, client_secret="not-the-secret-" + unique("s"))
    unknown_client = dict(app, client_id="0" * 32)
    answers = [oauth(herald, wrong_secret), oauth(herald, unknown_client)]
    for resp in answers:
        assert resp.status_code == 401, resp.text
        assert resp.json() == {"error": "invalid_client", "error_description": "client authentication failed"}
        assert resp.headers["www-authenticate"].lower().startswith("basic")
        assert wrong_secret["client_secret"] not in resp.text and app["client_secret"] not in resp.text

    def post(**kwargs: Any) -> httpx.Response:
        return httpx.post(herald.base_url + "/oauth/token", timeout=10, **kwargs)

    auth = (app["client_id"], app["client_secret"])
    checks: list[tuple[httpx.Response, int, str]] = [
        (post(data={"grant_type": "password"}, auth=auth), 400, "unsupported_grant_type"),
        (post(data={}, auth=auth), 400, "invalid_request"),
        (post(data={"grant_type": "client_credentials"}), 401, "invalid_client"),
        (oauth(herald, app, scope="events:publish root"), 400, "invalid_scope"),
        (oauth(herald, app, account_id=unique("acct-not-installed")), 400, "invalid_request"),
        (post(content=b"<xml/>", headers={"content-type": "text/xml"}, auth=auth), 400, "invalid_request"),
    ]
    for resp, status, error in checks:
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == error, resp.text
        assert resp.json()["error_description"]


def test_scopes_are_enforced_with_403(herald: Herald, api: Api, receiver: Receiver, account: str) -> None:
    app = installed_app(api, account)
    installation = api.expect(200, "GET", f"/v1/applications/{app['id']}/installations")["data"][0]
    sub = api.account_subscription(account, receiver.url(receiver.new_path("scopes")), ["s.event"])
    event = unique("evt-s")
    api.publish(account, {"id": event, "type": "s.event", "data": {}})
    delivery = api.settled(account, event_id=event)

    publisher = token_api(herald, app_token(herald, app, scope="events:publish"))
    assert publisher.publish(account, {"type": "s.event", "data": {}})["ids"]
    for method, path in [
        ("GET", f"/v1/accounts/{account}/deliveries"),
        ("GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}"),
        ("GET", f"/v1/applications/{app['id']}/installations/{installation['id']}"),
    ]:
        error = assert_error(publisher.request(method, path), 403, "authorization")
        assert "scope" in error["message"]

    reader = token_api(herald, app_token(herald, app, scope="deliveries:read webhooks.state:ro"))
    assert reader.delivery(account, delivery["id"])["id"] == delivery["id"]
    resend = reader.request("POST", f"/v1/accounts/{account}/deliveries/{delivery['id']}/resend")
    assert assert_error(resend, 403, "authorization")["data"] == {"scope": "deliveries:rw"}
    ins_path = f"/v1/applications/{app['id']}/installations/{installation['id']}"
    assert reader.expect(200, "GET", ins_path)["enabled"] is True
    assert_error(reader.request("PATCH", ins_path, json={"enabled": False}), 403, "authorization")
    assert_error(
        reader.request("POST", f"/v1/accounts/{account}/events", json={"type": "x", "data": {}}),
        403,
        "authorization",
    )

    state = token_api(herald, app_token(herald, app, scope="webhooks.state:rw deliveries:rw"))
    assert state.expect(200, "PATCH", ins_path, json={"enabled": False})["enabled"] is False
    assert state.expect(200, "PATCH", ins_path, json={"enabled": True})["enabled"] is True
    assert_error(state.request("PATCH", ins_path, json={"max_retries": 2}), 403, "authorization")
    assert state.resend(account, delivery["id"])["id"] == delivery["id"]


def test_token_bound_to_an_account_sees_only_that_account(herald: Herald, api: Api) -> None:
    first, second = unique("acct-b1"), unique("acct-b2")
    app = installed_app(api, first, second)
    bound = token_api(herald, app_token(herald, app, account_id=first))
    bound.expect(200, "GET", f"/v1/accounts/{first}/subscriptions")
    assert_error(bound.request("GET", f"/v1/accounts/{second}/subscriptions"), 404, "not_found")
    listed = bound.expect(200, "GET", f"/v1/applications/{app['id']}/installations")["data"]
    assert [i["account_id"] for i in listed] == [first]
    # Uninstalled: the application's tokens lose the account at once.
    free = token_api(herald, app_token(herald, app))
    free.expect(200, "GET", f"/v1/accounts/{second}/subscriptions")
    installation = next(
        i
        for i in api.expect(200, "GET", f"/v1/applications/{app['id']}/installations")["data"]
        if i["account_id"] == second
    )
    api.expect(204, "DELETE", f"/v1/applications/{app['id']}/installations/{installation['id']}")
    assert_error(free.request("GET", f"/v1/accounts/{second}/subscriptions"), 404, "not_found")


# ----------------------------------------------------------------------------- personal access tokens


def test_personal_access_token_lifecycle(herald: Herald, api: Api, account: str) -> None:
    created = api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={"name": "ci"})
    token = created["token"]
    assert token.startswith("hpat_") and set(created["scopes"]) == ALL_SCOPES
    listed = api.expect(200, "GET", f"/v1/accounts/{account}/tokens")
    assert [t["id"] for t in listed["data"]] == [created["id"]]
    assert token not in str(listed) and "token" not in listed["data"][0]  # shown once

    pat = token_api(herald, token)
    assert pat.publish(account, {"type": "pat.event", "data": {}})["ids"]
    pat.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")
    assert_error(pat.request("GET", f"/v1/accounts/{unique('acct-x')}/subscriptions"), 404, "not_found")
    assert_error(pat.request("GET", "/v1/applications"), 403, "authorization")

    # A token hands out only scopes it holds.
    narrow = pat.expect(
        201, "POST", f"/v1/accounts/{account}/tokens", json={"scopes": ["webhooks.configuration:rw"]}
    )
    narrow_api = token_api(herald, narrow["token"])
    assert_error(narrow_api.request("GET", f"/v1/accounts/{account}/deliveries"), 403, "authorization")
    wider = narrow_api.request("POST", f"/v1/accounts/{account}/tokens", json={"scopes": ["events:publish"]})
    assert_error(wider, 403, "authorization")
    bad = api.request("POST", f"/v1/accounts/{account}/tokens", json={"scopes": ["root"]})
    assert assert_error(bad, 422, "validation")["data"]["field"] == "scopes"

    pat.expect(204, "DELETE", f"/v1/accounts/{account}/tokens/{created['id']}")
    resp = pat.request("GET", f"/v1/accounts/{account}/subscriptions")
    assert_error(resp, 401, "authentication")
    listed = api.expect(200, "GET", f"/v1/accounts/{account}/tokens")["data"]
    revoked = next(t for t in listed if t["id"] == created["id"])
    assert revoked["revoked_at"] is not None and revoked["last_used_at"] is not None
    assert narrow_api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")  # others still work


# ------------------------------------------------------------------------------- the cross-tenant walk

RECOVERY_BODY = {"since": "2020-01-01T00:00:00Z"}
SAMPLE_BODIES: dict[str, Any] = {
    "POST /v1/applications": {"name": "walk"},
    "PATCH /v1/applications/{app_id}": {"name": "walked", "operational_url": "https://example.com/ops"},
    "POST /v1/applications/{app_id}/installations": {"account_id": "acct-walk"},
    "PATCH /v1/applications/{app_id}/installations/{installation_id}": {"enabled": False},
    "POST /v1/applications/{app_id}/subscriptions": {"url": "https://example.com/w", "event_types": ["w"]},
    "PATCH /v1/applications/{app_id}/subscriptions/{subscription_id}": {"name": "walked"},
    "POST /v1/accounts/{account_id}/subscriptions": {"url": "https://example.com/w", "event_types": ["w"]},
    "PATCH /v1/accounts/{account_id}/subscriptions/{subscription_id}": {"name": "walked"},
    "POST /v1/accounts/{account_id}/credentials": {"name": "walk", "scheme": "bearer"},
    "POST /v1/accounts/{account_id}/credentials/{credential_id}/rotate": {},
    "POST /v1/accounts/{account_id}/events": {"type": "walk.event", "data": {}},
    "POST /v1/accounts/{account_id}/tokens": {},
    "POST /v1/accounts/{account_id}/portal-links": {"expires_in": 600},
    "POST /v1/accounts/{account_id}/app-installations": {
        "client_name": "walk",
        "capabilities": {"webhooks": {}},
    },
    "PUT /v1/accounts/{account_id}/app-installations/{app_id}": {
        "client_name": "walk",
        "capabilities": {"webhooks": {}},
    },
    "POST /v1/accounts/{account_id}/mtls-mappings": {
        "url": "https://example.com/w",
        "certificate": "x",
        "private_key": "x",
    },
    "POST /v1/event-types": {"name": "walk.type", "version": "1-0-0", "schema": {}},  # admin only: 403
    "POST /v1/accounts/{account_id}/subscriptions/{subscription_id}/recover": RECOVERY_BODY,
    "POST /v1/applications/{app_id}/subscriptions/{subscription_id}/recover": RECOVERY_BODY,
    "POST /v1/accounts/{account_id}/subscriptions/{subscription_id}/replay": RECOVERY_BODY,
    "POST /v1/applications/{app_id}/subscriptions/{subscription_id}/replay": RECOVERY_BODY,
    "POST /v1/inspect/bins": {"account_id": "acct-walk"},
    "PATCH /v1/inspect/bins/{bin_id}": {"response": {"status": 500}},
    "POST /v1/inspect/bins/{bin_id}/requests/{request_id}/verify": {"subscription_id": "sub_walk"},
    "POST /v1/listen/sessions": {"account_id": "acct-walk"},
    "POST /v1/sources": {"name": "walk", "kind": "redis-stream", "url": "redis://h:6379/0", "stream": "w"},
    "PATCH /v1/sources/{source_id}": {"enabled": False},  # sources are admin only: 403
    "POST /v1/listen/sessions/{session_id}/requests/{request_id}/response": {"status_code": 200},
    "PUT /v1/accounts/{account_id}/mtls-mappings/{mapping_id}": {
        "url": "https://example.com/w",
        "certificate": "x",
        "private_key": "x",
    },
}


# Routes without a token, so not in the walk (they are hidden from the OpenAPI document): the inspector's
# capture URL is public by design (it is handed to whoever sends the webhooks) and unguessable (the bin id,
# 80 random bits); the HTML pages hold no data; the page's live stream needs a ticket that only the bin's
# owner can get from POST /v1/inspect/bins/{bin_id}/tickets. Checked below: none of them leaks tenant data.
PUBLIC_ROUTES = (
    "/inspect/bins/{bin_id}/hook",
    "/inspect/bins/{bin_id}/hook/{subpath}",
    "/inspect/bins/{bin_id}/stream",
    "/inspect/bins/{bin_id}",
    "/inspect",
)
# LiveChat's Configuration API (every version Herald serves): "{client_id}" is tenant A's client id.
LIVECHAT_BODIES: dict[str, Any] = {
    "register_webhook": {
        "url": "https://example.com/w",
        "action": "incoming_chat",
        "secret_key": "walk",
        "owner_client_id": "{client_id}",
        "type": "license",
    },
    "list_webhooks": {"owner_client_id": "{client_id}"},
    "unregister_webhook": {"id": "sub_walk", "owner_client_id": "{client_id}"},
    "list_webhook_names": {},
    "enable_license_webhooks": {"owner_client_id": "{client_id}"},
    "disable_license_webhooks": {"owner_client_id": "{client_id}"},
    "get_license_webhooks_state": {"owner_client_id": "{client_id}"},
}
for _version in ("v3.3", "v3.4", "v3.5", "v3.6", "v3.7"):
    for _method, _body in LIVECHAT_BODIES.items():
        SAMPLE_BODIES[f"POST /{_version}/configuration/action/{_method}"] = _body


# Routes that serve what every tenant shares (the built-in event catalog): any caller may read them, and
# they must still leak nothing of another tenant.
SHARED_PREFIXES = ("/v1/event-types", "/v1/operational-event-types")


def authenticated_operations(herald: Herald) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the OpenAPI document that takes the bearer token (new routes included)."""
    spec = httpx.get(herald.base_url + "/openapi.json", timeout=10).json()
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete") and op.get("security"):
                out.append((method.upper(), path, op))
    return out


def test_every_route_hides_another_tenants_objects(herald: Herald, api: Api, receiver: Receiver) -> None:
    # Tenant A: an application installed in an account, and one of everything.
    a_account = unique("acct-tenant-a")
    a_app = installed_app(api, a_account)
    a_installation = api.expect(200, "GET", f"/v1/applications/{a_app['id']}/installations")["data"][0]
    a_app_sub = api.app_subscription(a_app["id"], receiver.url(receiver.new_path("walk-a")), ["w"])
    a_sub = api.account_subscription(a_account, receiver.url(receiver.new_path("walk-a")), ["w"])
    a_cred = api.expect(
        201, "POST", f"/v1/accounts/{a_account}/credentials", json={"name": "a", "scheme": "bearer"}
    )
    a_event = unique("evt-walk-a")
    api.publish(a_account, {"id": a_event, "type": "w", "data": {}})
    a_delivery = api.settled(a_account, event_id=a_event, subscription_id=a_sub["id"])
    a_pat = api.expect(201, "POST", f"/v1/accounts/{a_account}/tokens", json={"name": "a"})
    a_oauth = app_token(herald, a_app)
    a_deliveries = sorted(d["id"] for d in api.deliveries(a_account))  # one per subscription of A
    a_job = api.expect(
        202,
        "POST",
        f"/v1/accounts/{a_account}/subscriptions/{a_sub['id']}/recover",
        json=RECOVERY_BODY,
    )
    a_bin = api.expect(201, "POST", "/v1/inspect/bins", json={"account_id": a_account})
    a_secret_body = unique("captured-secret")
    assert httpx.post(a_bin["url"] + "/walk", content=a_secret_body.encode(), timeout=10).status_code == 200
    a_captured = api.expect(200, "GET", f"/v1/inspect/bins/{a_bin['id']}/requests")["data"][0]
    a_session = api.expect(201, "POST", "/v1/listen/sessions", json={"account_id": a_account})
    # A LivePerson app installation of A: the app-installation routes (list, transitions) walk over it.
    a_lp = api.expect(
        201,
        "POST",
        f"/v1/accounts/{a_account}/app-installations",
        json={"client_name": "walk-a", "capabilities": {"webhooks": {"retry": {"retention_time": 60}}}},
    )
    a_link = api.expect(201, "POST", f"/v1/accounts/{a_account}/portal-links", json={"expires_in": 600})
    secrets_of_a = [
        a_account, a_app["id"], a_app["client_id"], a_app["client_secret"], a_installation["id"],
        a_app_sub["id"], a_sub["id"], a_sub["secret"], a_cred["id"], a_cred["secret"], a_event,
        a_delivery["id"], a_pat["id"], a_pat["token"], a_oauth, a_job["id"], a_bin["id"], a_captured["id"],
        a_secret_body, a_session["id"], a_session["subscription_id"], a_lp["id"], a_lp["client_id"],
        a_lp["client_secret"], a_lp["installation_id"], a_link["id"], a_link["url"],
    ]  # fmt: skip
    params = {
        "account_id": a_account,
        "app_id": a_app["id"],
        "installation_id": a_installation["id"],
        "credential_id": a_cred["id"],
        "delivery_id": a_delivery["id"],
        "token_id": a_pat["id"],
        "job_id": a_job["id"],  # a recovery job of A's (account jobs and application jobs alike)
        "mapping_id": "mtl_01JWALKWALKWALKWALKWALKWAL",
        "name": "AgentSnapshotEvent",  # the event catalog: shared by every tenant, not tenant data
        "version": "1-0-0",  # of a custom event type (deleting one is admin only: 403)
        "bin_id": a_bin["id"],
        "request_id": a_captured["id"],
        "session_id": a_session["id"],
        "event_id": a_event,  # expunge
        "link_id": a_link["id"],  # portal links
        "source_id": "src_walk",  # sources are admin only
    }

    # Tenant B: its application (installed in B's account), the same bound to the account, B's own PAT.
    b_account = unique("acct-tenant-b")
    b_app = installed_app(api, b_account)
    b_pat = api.expect(201, "POST", f"/v1/accounts/{b_account}/tokens", json={"name": "b"})["token"]
    others = {
        "application": app_token(herald, b_app),
        "bound application": app_token(herald, b_app, account_id=b_account),
        "account": b_pat,
    }

    operations = authenticated_operations(herald)
    assert len(operations) >= 25, operations
    walked = 0
    for method, template, op in operations:
        key = f"{method} {template}"
        body = None
        if "requestBody" in op:
            assert key in SAMPLE_BODIES, f"add a sample body for {key} to SAMPLE_BODIES"
            body = SAMPLE_BODIES[key]
            if isinstance(body, dict):
                body = {k: v.replace("{client_id}", a_app["client_id"]) if isinstance(v, str) else v
                        for k, v in body.items()}  # fmt: skip
        values = dict(params)
        values["subscription_id"] = (
            a_app_sub["id"] if template.startswith("/v1/applications/") else a_sub["id"]
        )
        if "/app-installations/" in template:
            values["app_id"] = a_lp["id"]
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        for name in names:
            assert name in values, f"add a tenant-A value for path parameter {name} ({key})"
        path = template.format(**{n: values[n] for n in names})
        for who, token in others.items():
            resp = httpx.request(
                method,
                herald.base_url + path,
                json=body,
                headers={"authorization": f"Bearer {token}"},
                timeout=10,
            )
            shared = template.startswith(SHARED_PREFIXES)
            allowed = {403, 404} if names and not shared else {200, 403, 404}
            assert resp.status_code in allowed, f"{who} token: {key} answered {resp.status_code}: {resp.text}"
            for secret in secrets_of_a:
                assert secret not in resp.text, f"{who} token: {key} leaked {secret}: {resp.text}"
            if names and not shared:
                assert resp.json()["error"]["type"] in ("not_found", "authorization")
            walked += 1
    assert walked == 3 * len(operations)

    # The public inspector routes: absent from the walk, and none gives away what A's bin captured.
    templates = {template for _, template, _ in operations}
    assert not templates & set(PUBLIC_ROUTES)
    for path in (
        f"/inspect/bins/{a_bin['id']}/hook",
        f"/inspect/bins/{a_bin['id']}",
        f"/inspect/bins/{a_bin['id']}/stream?ticket=0.forged",
        "/inspect",
    ):
        resp = httpx.get(herald.base_url + path, timeout=10)
        assert a_secret_body not in resp.text and a_captured["id"] not in resp.text, (path, resp.text)

    # Nothing of A was changed or removed by the walk.
    assert api.delivery(a_account, a_delivery["id"])["event"]["data"] == {}  # not expunged
    assert api.expect(200, "GET", f"/v1/accounts/{a_account}/portal-links")[0]["revoked_at"] is None
    assert api.expect(200, "GET", f"/v1/applications/{a_app['id']}")["name"] == a_app["name"]
    assert api.expect(200, "GET", f"/v1/applications/{a_app['id']}/installations/{a_installation['id']}")[
        "enabled"
    ]
    assert api.expect(200, "GET", f"/v1/accounts/{a_account}/subscriptions/{a_sub['id']}")["name"] is None
    assert api.expect(200, "GET", f"/v1/accounts/{a_account}/subscriptions/{a_sub['id']}")["enabled"]
    assert api.expect(200, "GET", f"/v1/applications/{a_app['id']}/subscriptions/{a_app_sub['id']}")[
        "enabled"
    ]
    assert api.expect(200, "GET", f"/v1/applications/{a_app['id']}")["operational_url"] is None
    assert (
        api.expect(200, "GET", f"/v1/applications/{a_app['id']}/subscriptions/{a_app_sub['id']}")["name"]
        is None
    )
    api.expect(200, "GET", f"/v1/accounts/{a_account}/credentials/{a_cred['id']}")
    assert sorted(d["id"] for d in api.deliveries(a_account)) == a_deliveries
    assert [j["id"] for j in api.expect(200, "GET", f"/v1/accounts/{a_account}/jobs")["data"]] == [
        a_job["id"]
    ]
    assert api.expect(200, "GET", f"/v1/applications/{a_app['id']}/jobs")["data"] == []
    assert [t["revoked_at"] for t in api.expect(200, "GET", f"/v1/accounts/{a_account}/tokens")["data"]] == [
        None
    ]
    token_api(herald, a_pat["token"]).expect(200, "GET", f"/v1/accounts/{a_account}/subscriptions")
    api.expect(200, "GET", f"/v1/inspect/bins/{a_bin['id']}/requests/{a_captured['id']}")
    api.expect(200, "GET", f"/v1/listen/sessions/{a_session['id']}/requests", params={"wait": 0})
    lp = api.expect(200, "GET", f"/v1/accounts/{a_account}/app-installations/{a_lp['id']}")
    assert lp["manifest"] == a_lp["manifest"]
    listed = api.expect(200, "GET", f"/v1/accounts/{a_account}/app-installations")["data"]
    assert [i["id"] for i in listed] == [a_lp["id"]]


# ------------------------------------------------------------------------ expiry and the failure limiter


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_tokens_expire_and_failed_auth_is_rate_limited(
    herald_factory: Callable[..., Herald], backend: str
) -> None:
    h = herald_factory(backend, HERALD_OAUTH_TOKEN_TTL="1", HERALD_AUTH_FAILURE_LIMIT="3")
    account = unique("acct-ttl")
    app = installed_app(h.api, account)
    resp = oauth(h, app)
    assert resp.json()["expires_in"] == 1
    short = token_api(h, resp.json()["access_token"])
    short.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")
    time.sleep(1.3)
    assert_error(short.request("GET", f"/v1/accounts/{account}/subscriptions"), 401, "authentication")  # 1

    assert oauth(h, dict(app, client_secret="wrong")).status_code == 401  # 2
    assert_error(token_api(h, "hpat_guess").request("GET", "/v1/applications"), 401, "authentication")  # 3
    limited = token_api(h, "hpat_guess").request("GET", "/v1/applications")
    error = assert_error(limited, 429, "too_many_requests")
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and error["data"]["retry_after"]
    # The address is refused whatever it sends now, the admin token and the token endpoint included.
    assert_error(h.api.request("GET", "/v1/applications"), 429, "too_many_requests")
    resp = oauth(h, app)
    assert resp.status_code == 429 and resp.json()["error"] == "too_many_requests"
    assert resp.headers["retry-after"]
