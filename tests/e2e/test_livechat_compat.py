"""LiveChat Configuration API compatibility against a live Herald and a real receiver: every method (happy
path and each error type it returns), filters and the license switch deciding delivery, the delivered
envelope and headers byte for byte, and the seed document's curl calls run with the real curl binary."""

from __future__ import annotations

import base64
import random
import shlex
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from e2e_harness import Api, Herald, Receiver, profile_header_names, unique
from test_api import assert_error

CHAT_ID, THREAD_ID = "PJ0MRSHTDG", "K600PKZON8"
AGENT = {"id": "agent@example.com", "type": "agent", "name": "Agent Smith", "present": True}
CUSTOMER = {"id": "b7eff798-f8df-4364-8059-649c35c9ed0c", "type": "customer", "name": "Jane", "present": True}


def license_id() -> str:
    """A numeric account id, as LiveChat licenses are (delivered as a number)."""
    return str(random.randint(100_000_000, 999_999_999))


def call(
    herald: Herald,
    method: str,
    body: Any = None,
    *,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    version: str = "v3.3",
) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if basic is not None:
        headers["authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    return httpx.post(
        f"{herald.base_url}/{version}/configuration/action/{method}", json=body, headers=headers, timeout=10
    )


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


def oauth_token(herald: Herald, app: dict[str, Any], **params: str) -> str:
    resp = httpx.post(
        herald.base_url + "/oauth/token",
        data={"grant_type": "client_credentials", **params},
        auth=(app["client_id"], app["client_secret"]),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


class Setup:
    """An application (LiveChat client) installed in a license, with a token bound to that license."""

    def __init__(self, herald: Herald, client_id: str | None = None, **token_params: str) -> None:
        self.herald = herald
        self.api: Api = herald.api
        self.license = license_id()
        body: dict[str, Any] = {"name": unique("lc-app")}
        if client_id:
            body["client_id"] = client_id
        self.app = self.api.expect(201, "POST", "/v1/applications", json=body)
        self.client_id: str = self.app["client_id"]
        self.installation = self.api.install(self.app["id"], self.license)
        self.token = oauth_token(herald, self.app, account_id=self.license, **token_params)

    def register(
        self, receiver_url: str, action: str = "incoming_chat", version: str = "v3.3", **extra: Any
    ) -> str:
        body = {
            "url": receiver_url,
            "action": action,
            "secret_key": unique("sk"),
            "owner_client_id": self.client_id,
            "type": "license",
            **extra,
        }
        return str(ok(call(self.herald, "register_webhook", body, token=self.token, version=version))["id"])

    def enable(self) -> None:
        assert ok(call(self.herald, "enable_license_webhooks", {}, token=self.token)) == {}

    def publish(self, action: str, data: dict[str, Any], **fields: Any) -> str:
        event_id = unique("evt-lc")
        self.api.publish(self.license, {"id": event_id, "type": action, "data": data, **fields})
        return event_id

    def delivered_to(self, event_id: str) -> set[str]:
        """Which webhooks the fan-out chose (decided at publish: no waiting needed)."""
        return {d["subscription_id"] for d in self.api.deliveries(self.license, event_id=event_id)}


def incoming_chat(*users: dict[str, Any], properties: dict[str, Any] | None = None) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": CHAT_ID, "users": list(users or (CUSTOMER, AGENT))}
    if properties is not None:
        chat["properties"] = properties
    return {"chat": chat}


def incoming_event(author: str) -> dict[str, Any]:
    return {
        "chat_id": CHAT_ID,
        "thread_id": THREAD_ID,
        "event": {"id": unique("ev"), "type": "message", "text": "hi", "author_id": author},
    }


# --------------------------------------------------------------------------------- the seed's curl calls

# Copied verbatim from /work/shared/seeds/001_f27e37f8fcb8ad8b.txt (LiveChat's webhook tutorial). The
# document lost its URLs (`curl -X POST \ \`, `"url": ""`) and the end of the first body; the test puts
# the local Herald and receiver URLs in and closes the body, nothing else.
SEED_REGISTER = """curl -X POST \\ \\
  -H 'Content-Type: application/json' \\
  -H 'Authorization: Bearer <your_access_token>' \\
  -d '{
        "url": "",
        "description": "Webhook informing about new chats",
        "action": "incoming_chat",
        "secret_key": "laudla991lamda0pnoaa0",
        "owner_client_id": "asXdesldiAJSq9padj",
        "type": "license"
"""
SEED_ENABLE = """curl -X POST \\ \\
  -H 'Authorization: Bearer <your_access_token>' \\
  -H 'Content-Type: application/json' \\
  -d '{}'
"""


def seed_command(text: str, url: str, token: str, receiver_url: str = "") -> list[str]:
    repaired = text.replace("curl -X POST \\ \\", f"curl -X POST {url} \\", 1)
    repaired = repaired.replace('"url": ""', f'"url": "{receiver_url}"').replace("<your_access_token>", token)
    if repaired.count("'") % 2:  # the truncated body: close it
        repaired = repaired.rstrip() + "\n      }'"
    args = shlex.split(repaired.replace("\\\n", " "))  # backslash-newline continues the line, as in sh
    curl = shutil.which("curl")
    assert curl is not None
    return [curl, *args[1:], "--silent", "--show-error", "--write-out", "\n%{http_code}"]


def run_curl(args: list[str]) -> tuple[int, Any]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), orjson.loads(body)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the curl binary is not installed")
def test_seed_curl_calls_register_enable_and_deliver(herald: Herald, receiver: Receiver) -> None:
    # The tutorial's client id, kept by the application (one per deployment: client ids are unique).
    s = Setup(herald, client_id="asXdesldiAJSq9padj")
    again = {"name": "again", "client_id": "asXdesldiAJSq9padj"}
    assert_error(herald.api.request("POST", "/v1/applications", json=again), 409, "conflict")
    bad = herald.api.request("POST", "/v1/applications", json={"name": "bad", "client_id": "a b"})
    assert assert_error(bad, 422, "validation")["data"]["field"] == "client_id"
    # A client id is kept at creation, never changed later: tokens and registrations refer to it.
    change = herald.api.request("PATCH", f"/v1/applications/{s.app['id']}", json={"client_id": "newclient1"})
    assert assert_error(change, 422, "validation")["data"]["field"] == "client_id"
    path = receiver.new_path("lc-seed")
    base = f"{herald.base_url}/v3.3/configuration/action"

    status, out = run_curl(
        seed_command(SEED_REGISTER, f"{base}/register_webhook", s.token, receiver.url(path))
    )
    assert status == 200 and set(out) == {"id"}, out
    webhook_id = out["id"]
    status, out = run_curl(seed_command(SEED_ENABLE, f"{base}/enable_license_webhooks", s.token))
    assert (status, out) == (200, {})

    listed = ok(call(herald, "list_webhooks", {"owner_client_id": "asXdesldiAJSq9padj"}, token=s.token))
    assert listed == [
        {
            "id": webhook_id,
            "url": receiver.url(path),
            "description": "Webhook informing about new chats",
            "action": "incoming_chat",
            "filters": {},
            "owner_client_id": "asXdesldiAJSq9padj",
            "type": "license",
        }
    ]

    data = incoming_chat(properties={"routing": {"idle": False}})
    event_id = s.publish("incoming_chat", data)
    (got,) = receiver.wait_for(path, 1)
    assert got.body == (
        b'{"webhook_id":"' + webhook_id.encode() + b'","secret_key":"laudla991lamda0pnoaa0",'
        b'"action":"incoming_chat","license_id":'
        + s.license.encode()
        + b',"payload":'
        + orjson.dumps(data)
        + b',"additional_data":{}}'
    )
    delivery = s.api.settled(s.license, event_id=event_id)
    # No signature header: the secret travels in the body.
    assert profile_header_names(got.raw_headers) == {
        "Host",
        "Content-Type",
        "User-Agent",
        "x-herald-delivery-id",
        "Content-Length",
    }
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-herald-delivery-id"] == delivery["id"]
    assert got.headers["user-agent"].startswith("Herald/")


# ------------------------------------------------------------------------------------------ delivery


def test_envelope_additional_data_and_v34_organization_id(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald)
    path33, path34 = receiver.new_path("lc-33"), receiver.new_path("lc-34")
    wanted = ["chat_properties", "chat_presence_user_ids"]
    hook33 = s.register(receiver.url(path33), additional_data=wanted)
    hook34 = s.register(receiver.url(path34), version="v3.4", additional_data=["chat_presence_user_ids"])
    s.enable()
    data = incoming_chat(CUSTOMER, AGENT, properties={"routing": {"idle": False}})
    s.publish("incoming_chat", data)
    (got33,) = receiver.wait_for(path33, 1)
    (got34,) = receiver.wait_for(path34, 1)
    secret33 = got33.json()["secret_key"]
    assert got33.body == (
        b'{"webhook_id":"' + hook33.encode() + b'","secret_key":"' + secret33.encode() + b'",'
        b'"action":"incoming_chat","license_id":'
        + s.license.encode()
        + b',"payload":'
        + orjson.dumps(data)
        + b',"additional_data":{"chat_properties":{"routing":{"idle":false}},'
        b'"chat_presence_user_ids":["' + CUSTOMER["id"].encode() + b'","agent@example.com"]}}'
    )
    body34 = got34.json()
    assert list(body34) == [
        "webhook_id",
        "secret_key",
        "action",
        "organization_id",
        "payload",
        "additional_data",
    ]
    assert body34["organization_id"] == s.license and body34["webhook_id"] == hook34
    assert body34["additional_data"] == {"chat_presence_user_ids": [CUSTOMER["id"], "agent@example.com"]}

    # An action whose payload holds no chat: the producer's context supplies additional_data.
    path_ev = receiver.new_path("lc-ev")
    s.register(receiver.url(path_ev), action="incoming_event", additional_data=wanted)
    s.publish(
        "incoming_event",
        incoming_event(AGENT["id"]),
        context={"chat_users": [AGENT], "chat_properties": {"source": {"type": "api"}}},
    )
    (got_ev,) = receiver.wait_for(path_ev, 1)
    assert got_ev.json()["additional_data"] == {
        "chat_properties": {"source": {"type": "api"}},
        "chat_presence_user_ids": ["agent@example.com"],
    }


def test_only_200_is_success(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald)
    path = receiver.new_path("lc-201")
    receiver.script(path, 201, default=200)
    s.register(receiver.url(path))
    s.enable()
    event_id = s.publish("incoming_chat", incoming_chat())
    receiver.wait_for(path, 2, timeout=60)  # 201 is a failure: retried, then 200
    delivery = s.api.settled(s.license, event_id=event_id, timeout=60)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2


# ------------------------------------------------------------------------------- license enable / disable


def test_license_state_decides_delivery(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald)
    path = receiver.new_path("lc-state")
    hook = s.register(receiver.url(path))
    # "Webhooks are always automatically enabled for the licences that install your application."
    state = ok(call(herald, "get_license_webhooks_state", {}, token=s.token))
    assert state == {"license_webhooks_enabled": True}
    first = s.publish("incoming_chat", incoming_chat())
    assert s.delivered_to(first) == {hook}
    s.enable()  # idempotent
    assert ok(call(herald, "get_license_webhooks_state", None, token=s.token)) == {
        "license_webhooks_enabled": True
    }

    assert ok(call(herald, "disable_license_webhooks", {}, token=s.token)) == {}
    assert s.delivered_to(s.publish("incoming_chat", incoming_chat())) == set()

    # Reinstalling the application does not enable them again.
    s.api.expect(204, "DELETE", f"/v1/applications/{s.app['id']}/installations/{s.installation['id']}")
    s.api.install(s.app["id"], s.license)
    token = oauth_token(herald, s.app, account_id=s.license)
    assert ok(call(herald, "get_license_webhooks_state", {}, token=token)) == {
        "license_webhooks_enabled": False
    }
    assert s.delivered_to(s.publish("incoming_chat", incoming_chat())) == set()

    # A personal access token of the license, sent as Basic base64(account:token), with owner_client_id.
    pat = s.api.expect(201, "POST", f"/v1/accounts/{s.license}/tokens", json={"name": "lc"})["token"]
    body = {"owner_client_id": s.client_id}
    assert ok(call(herald, "enable_license_webhooks", body, basic=(s.license, pat))) == {}
    assert ok(call(herald, "get_license_webhooks_state", body, basic=(s.license, pat))) == {
        "license_webhooks_enabled": True
    }
    last = s.publish("incoming_chat", incoming_chat())
    assert s.delivered_to(last) == {hook}
    assert len(receiver.wait_for(path, 2)) == 2  # the two enabled events, nothing else
    s.api.settled(s.license, event_id=last)
    assert len(receiver.requests(path)) == 2


# ------------------------------------------------------------------------------------------ filters


def test_filters_decide_delivery(herald: Herald, receiver: Receiver) -> None:
    s = Setup(herald)
    url = receiver.url(receiver.new_path("lc-filters"))
    customer_only = s.register(url, "incoming_event", filters={"author_type": "customer"})
    agent_only = s.register(url, "incoming_event", filters={"author_type": "agent"})
    with_agent = s.register(
        url, "incoming_event", filters={"chat_presence": {"user_ids": {"values": [AGENT["id"]]}}}
    )
    mine = s.register(url, "incoming_chat", filters={"only_my_chats": True})
    without_agent = s.register(
        url, "incoming_chat", filters={"chat_presence": {"user_ids": {"exclude_values": [AGENT["id"]]}}}
    )
    my_bots = s.register(url, "incoming_chat", filters={"chat_presence": {"my_bots": True}})
    others = s.register(url, "chat_deactivated", version="v3.4", filters={"source_type": ["other_clients"]})
    system = s.register(url, "chat_deactivated", version="v3.4", filters={"source_type": ["system"]})
    gone_agent = s.register(url, "agent_deleted", filters={"agent_ids": {"values": [AGENT["id"]]}})
    s.enable()

    # author_type: from the event's author among the chat users (given in context for incoming_event).
    users = {"chat_users": [CUSTOMER, AGENT]}
    assert s.delivered_to(s.publish("incoming_event", incoming_event(CUSTOMER["id"]), context=users)) == {
        customer_only,
        with_agent,
    }
    assert s.delivered_to(s.publish("incoming_event", incoming_event(AGENT["id"]), context=users)) == {
        agent_only,
        with_agent,
    }
    assert s.delivered_to(
        s.publish("incoming_event", incoming_event(CUSTOMER["id"]), context={"chat_users": [CUSTOMER]})
    ) == {customer_only}

    # only_my_chats and chat_presence on incoming_chat (users from the payload).
    assert s.delivered_to(s.publish("incoming_chat", incoming_chat(CUSTOMER, AGENT))) == set()
    assert s.delivered_to(s.publish("incoming_chat", incoming_chat(CUSTOMER))) == {without_agent}
    assert s.delivered_to(
        s.publish("incoming_chat", incoming_chat(CUSTOMER, AGENT), context={"source_client_id": s.client_id})
    ) == {mine}
    bot = {"id": "bot-1", "type": "agent", "owner_client_id": s.client_id}
    assert s.delivered_to(s.publish("incoming_chat", incoming_chat(CUSTOMER, AGENT, bot))) == {my_bots}

    # source_type (v3.4): another client, or the system.
    closed = {"chat_id": CHAT_ID, "thread_id": THREAD_ID, "user_id": AGENT["id"]}
    assert s.delivered_to(s.publish("chat_deactivated", closed, context={"source_client_id": "other"})) == {
        others
    }
    assert s.delivered_to(s.publish("chat_deactivated", closed)) == {system}
    assert (
        s.delivered_to(s.publish("chat_deactivated", closed, context={"source_client_id": s.client_id}))
        == set()
    )

    # agent_ids on agent_deleted.
    assert s.delivered_to(s.publish("agent_deleted", {"agent_id": AGENT["id"]})) == {gone_agent}
    assert s.delivered_to(s.publish("agent_deleted", {"agent_id": "someone@example.com"})) == set()

    # A context on an event that is not a LiveChat action is refused.
    resp = s.api.request(
        "POST",
        f"/v1/accounts/{s.license}/events",
        json={"type": "order.created", "data": {}, "context": {"author_type": "agent"}},
    )
    assert assert_error(resp, 422, "validation")["data"]["field"] == "context"


# --------------------------------------------------------------------------- methods and their errors


def test_register_list_unregister(herald: Herald, receiver: Receiver) -> None:
    s, other = Setup(herald), Setup(herald)
    url = receiver.url(receiver.new_path("lc-reg"))
    ids = [s.register(url, description="d", filters={"only_my_chats": True}) for _ in range(3)]
    base = {
        "url": url,
        "action": "incoming_chat",
        "secret_key": "k",
        "owner_client_id": s.client_id,
        "type": "license",
    }
    limited = assert_error(call(herald, "register_webhook", base, token=s.token), 409, "limit_reached")
    assert limited["message"] == "Limit reached"
    s.register(url, "incoming_event")  # another action

    listed = ok(call(herald, "list_webhooks", {"owner_client_id": s.client_id}, token=s.token))
    assert [w["id"] for w in listed[:3]] == ids and len(listed) == 4
    assert listed[0] == {
        "id": ids[0],
        "url": url,
        "description": "d",
        "action": "incoming_chat",
        "filters": {"only_my_chats": True},
        "owner_client_id": s.client_id,
        "type": "license",
    }
    assert "secret_key" not in str(listed)

    unregister = {"id": ids[0], "owner_client_id": s.client_id}
    assert_error(
        call(
            herald,
            "unregister_webhook",
            {"id": ids[0], "owner_client_id": other.client_id},
            token=other.token,
        ),
        404,
        "not_found",
    )
    assert ok(call(herald, "unregister_webhook", unregister, token=s.token)) == {}
    assert_error(call(herald, "unregister_webhook", unregister, token=s.token), 404, "not_found")
    assert ids[0] not in {
        w["id"] for w in ok(call(herald, "list_webhooks", {"owner_client_id": s.client_id}, token=s.token))
    }
    ok(call(herald, "register_webhook", base, token=s.token))  # room again

    # Herald's own routes show the webhook as an application subscription; like LiveChat, no editing.
    sub_path = f"/v1/applications/{s.app['id']}/subscriptions/{ids[1]}"
    assert s.api.expect(200, "GET", sub_path)["profile"] == "livechat"
    assert_error(s.api.request("PATCH", sub_path, json={"url": url + "x"}), 409, "conflict")
    assert s.api.expect(200, "PATCH", sub_path, json={"enabled": False})["enabled"] is False

    # Errors each method returns.
    for method, body in [
        ("register_webhook", base),
        ("list_webhooks", {"owner_client_id": s.client_id}),
        ("unregister_webhook", unregister),
    ]:
        assert_error(call(herald, method, body), 401, "authentication")
        assert_error(call(herald, method, body, token="hoat_not-a-token"), 401, "authentication")
        # Another client's id is not found (nothing leaks); a personal access token may not manage them.
        other_body = {**body, "owner_client_id": other.client_id}
        error = assert_error(call(herald, method, other_body, token=s.token), 404, "not_found")
        assert error["data"]["field"] == "owner_client_id"
        # A PAT of a license that does not own the application: not found (ADR 0013).
        pat = s.api.expect(201, "POST", f"/v1/accounts/{s.license}/tokens", json={})["token"]
        found = assert_error(call(herald, method, body, basic=("agent-1", pat)), 404, "not_found")
        assert found["data"]["field"] == "owner_client_id"
        narrow = oauth_token(herald, s.app, scope="webhooks.state:rw")
        error = assert_error(call(herald, method, body, token=narrow), 403, "authorization")
        assert error["data"] == {"scope": "webhooks.configuration:rw"}
        without = {k: v for k, v in body.items() if k != "owner_client_id"}
        missing = assert_error(call(herald, method, without, token=s.token), 422, "validation")
        assert missing["data"]["field"] == "owner_client_id"

    invalid = [
        ({**base, "type": "other"}, "type"),
        ({**base, "action": "nope"}, "action"),
        ({**base, "url": "ftp://example.com"}, "url"),
        ({**base, "filters": {"author_type": "customer"}}, "filters.author_type"),
        (
            {**base, "filters": {"chat_presence": {"user_ids": {"values": ["a"], "exclude_values": ["b"]}}}},
            "filters.chat_presence.user_ids",
        ),
        ({**base, "filters": {"source_type": ["system"]}}, "filters.source_type"),  # v3.3 has no source_type
        ({**base, "action": "agent_deleted", "additional_data": ["chat_properties"]}, "additional_data"),
        ({**base, "action": "incoming_customer", "additional_data": ["chat_properties"]}, "additional_data"),
        ({k: v for k, v in base.items() if k != "secret_key"}, "secret_key"),
    ]
    for body, field in invalid:
        error = assert_error(call(herald, "register_webhook", body, token=s.token), 422, "validation")
        assert error["data"]["field"] == field, (body, error)
    resp = httpx.post(
        f"{herald.base_url}/v3.3/configuration/action/register_webhook",
        content=b"{not json",
        headers={"authorization": f"Bearer {s.token}", "content-type": "application/json"},
    )
    assert_error(resp, 422, "validation")


def test_list_webhook_names_and_unknown_paths(herald: Herald) -> None:
    s = Setup(herald)
    names = ok(call(herald, "list_webhook_names", {}, token=s.token))
    assert {
        "action": "incoming_chat",
        "filters": ["chat_presence", "only_my_chats"],
        "additional_data": ["chat_properties", "chat_presence_user_ids"],
    } in names
    assert "source_type" not in str(names)
    v34 = ok(call(herald, "list_webhook_names", {"version": "3.4"}, token=s.token))
    assert "source_type" in next(n for n in v34 if n["action"] == "incoming_chat")["filters"]
    v35 = ok(call(herald, "list_webhook_names", None, token=s.token, version="v3.5"))
    assert v35 == ok(call(herald, "list_webhook_names", {"version": "3.5"}))
    assert {n["action"] for n in v35} - {n["action"] for n in v34} == {
        "tag_created",
        "tag_deleted",
        "tag_updated",
    }
    error = assert_error(
        call(herald, "list_webhook_names", {"version": "2.0"}, token=s.token), 400, "unsupported_version"
    )
    assert error["data"]["field"] == "version"
    # No authorization needed, as LiveChat documents it; a bad token does not matter either.
    assert ok(call(herald, "list_webhook_names", {})) == names
    assert ok(call(herald, "list_webhook_names", {}, token="hoat_not-a-token")) == names
    error = assert_error(
        call(herald, "list_webhook_names", {"version": 3.3}, token=s.token), 422, "validation"
    )
    assert error["data"]["field"] == "version"

    assert_error(
        call(herald, "register_webhook", {}, token=s.token, version="v3.2"), 400, "unsupported_version"
    )
    assert_error(call(herald, "no_such_method", {}, token=s.token), 404, "not_found")


def test_license_state_methods_errors(herald: Herald) -> None:
    s, other = Setup(herald), Setup(herald)
    pat = s.api.expect(201, "POST", f"/v1/accounts/{s.license}/tokens", json={})["token"]
    for method in ("enable_license_webhooks", "disable_license_webhooks", "get_license_webhooks_state"):
        assert_error(call(herald, method, {}), 401, "authentication")
        assert_error(call(herald, method, {}, basic=("", pat)), 401, "authentication")
        assert_error(call(herald, method, {}, basic=("agent-1", "hpat_wrong")), 401, "authentication")
        # A Bearer token: the token's client is used; an explicit owner_client_id is refused.
        error = assert_error(
            call(herald, method, {"owner_client_id": s.client_id}, token=s.token), 422, "validation"
        )
        assert error["data"]["field"] == "owner_client_id"
        assert_error(
            call(herald, method, {"owner_client_id": other.client_id}, token=s.token), 404, "not_found"
        )
        # A token bound to no license, and the admin token, name no license.
        assert_error(call(herald, method, {}, token=oauth_token(herald, s.app)), 403, "authorization")
        assert_error(call(herald, method, {}, token=herald.token), 403, "authorization")
        # A personal access token needs owner_client_id, of an application installed in its account.
        error = assert_error(call(herald, method, {}, basic=(s.license, pat)), 422, "validation")
        assert error["data"]["field"] == "owner_client_id"
        not_installed = {"owner_client_id": other.client_id}
        assert_error(call(herald, method, not_installed, basic=(s.license, pat)), 404, "not_found")
    # Scopes: reading needs webhooks.state:ro, switching webhooks.state:rw.
    reader = oauth_token(herald, s.app, account_id=s.license, scope="webhooks.state:ro")
    assert ok(call(herald, "get_license_webhooks_state", {}, token=reader)) == {
        "license_webhooks_enabled": True
    }
    error = assert_error(call(herald, "enable_license_webhooks", {}, token=reader), 403, "authorization")
    assert error["data"] == {"scope": "webhooks.state:rw"}
    publisher = oauth_token(herald, s.app, account_id=s.license, scope="events:publish")
    assert_error(call(herald, "get_license_webhooks_state", {}, token=publisher), 403, "authorization")


def test_every_method_of_every_version_is_documented_and_authenticated(herald: Herald) -> None:
    """So the cross-tenant walk in test_auth.py reaches each of them."""
    spec = httpx.get(herald.base_url + "/openapi.json", timeout=10).json()
    methods = (
        "register_webhook",
        "list_webhooks",
        "unregister_webhook",
        "list_webhook_names",
        "enable_license_webhooks",
        "disable_license_webhooks",
        "get_license_webhooks_state",
    )
    for version in ("v3.3", "v3.4", "v3.5", "v3.6", "v3.7"):
        for method in methods:
            op = spec["paths"][f"/{version}/configuration/action/{method}"]["post"]
            # list_webhook_names needs no authorization (LiveChat's docs); every other method does.
            assert bool(op.get("security")) is (method != "list_webhook_names"), (version, method)
    assert not any("{method}" in path for path in spec["paths"])  # the catch-all stays undocumented


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_failed_authentication_is_rate_limited(herald_factory: Callable[..., Herald], backend: str) -> None:
    h = herald_factory(backend, HERALD_AUTH_FAILURE_LIMIT="3")
    s = Setup(h)
    url = f"{h.base_url}/v3.3/configuration/action/get_license_webhooks_state"
    garbled = httpx.post(url, json={}, headers={"authorization": "Basic !!!"}, timeout=10)
    assert_error(garbled, 401, "authentication")  # a failure like any other
    assert_error(call(h, "get_license_webhooks_state", {}, token="hoat_guess"), 401, "authentication")
    assert_error(call(h, "get_license_webhooks_state", {}, basic=("x", "hpat_guess")), 401, "authentication")
    limited = call(h, "get_license_webhooks_state", {}, token=s.token)
    assert_error(limited, 429, "too_many_requests")
    assert limited.headers["retry-after"]


def test_owner_account_decides_which_pats_manage_the_webhooks(herald: Herald) -> None:
    """ADR 0013: the PATs of the application's owner account (the developer's license) manage its
    webhooks; only the admin sets the owner."""
    s = Setup(herald)
    developer, successor = license_id(), license_id()
    app_path = f"/v1/applications/{s.app['id']}"
    bad = s.api.request("PATCH", app_path, json={"owner_account_id": "bad id!"})
    assert assert_error(bad, 422, "validation")["data"]["field"] == "owner_account_id"
    by_app = httpx.patch(
        herald.base_url + app_path,
        json={"owner_account_id": developer},
        headers={"authorization": f"Bearer {s.token}"},
        timeout=10,
    )
    assert_error(by_app, 403, "authorization")
    assert (
        s.api.expect(200, "PATCH", app_path, json={"owner_account_id": developer})["owner_account_id"]
        == developer
    )
    assert s.api.expect(200, "GET", app_path)["owner_account_id"] == developer

    def pat_of(account: str) -> tuple[str, str]:
        token = s.api.expect(201, "POST", f"/v1/accounts/{account}/tokens", json={})["token"]
        return ("5c9871d5372c824cbf22d860a707a578", token)  # an agent's account ID as the username

    dev_pat, next_pat = pat_of(developer), pat_of(successor)
    body = {"owner_client_id": s.client_id}
    assert ok(call(herald, "list_webhooks", body, basic=dev_pat)) == []
    assert_error(call(herald, "list_webhooks", body, basic=next_pat), 404, "not_found")
    s.api.expect(200, "PATCH", app_path, json={"owner_account_id": successor})
    assert ok(call(herald, "list_webhooks", body, basic=next_pat)) == []
    assert_error(call(herald, "list_webhooks", body, basic=dev_pat), 404, "not_found")
    # A PAT without webhooks.configuration:rw cannot register, even for its own application.
    narrow = s.api.expect(
        201, "POST", f"/v1/accounts/{successor}/tokens", json={"scopes": ["webhooks.state:ro"]}
    )["token"]
    error = assert_error(call(herald, "list_webhooks", body, basic=("agent", narrow)), 403, "authorization")
    assert error["data"] == {"scope": "webhooks.configuration:rw"}
