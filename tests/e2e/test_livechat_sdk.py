"""LiveChat's official Python SDK (`lc-sdk-python`) against a real Herald over Herald's own TLS, as an app
developer runs it after changing only the SDK's base URL (issue 15): release 0.4.1's v3.3 Configuration
API client and the current release's (0.4.2) newest client, v3.7. Every webhook method, delivered
webhooks passing the SDK's own `parse_webhook`, and each documented behaviour Herald once broke:
1 webhooks on from installation, 2 list_webhook_names without authorization, 3 personal access tokens as
`Basic base64(<agent account id>:<PAT>)`, 4 chat filters on property/tag actions, 5 chat_transferred,
6 bot webhooks, 7 the v3.7 API with `organization_id`.

0.4.2 is a dev dependency; 0.4.1 is installed from PyPI into a temporary directory (`pip install
--no-deps --target`: it is pure Python and needs only httpx, which both releases pin alike). Each release
runs in its own driver process (livechat_sdk_driver.py), PYTHONPATH choosing the release.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import BACKENDS, Herald, Receiver, deployment, unique, wait_until
from tls_files import make_tls

DRIVER = Path(__file__).with_name("livechat_sdk_driver.py")
CHAT_ID, THREAD_ID = "PJ0MRSHTDG", "K600PKZON8"
AGENT = {"id": "agent@example.com", "type": "agent", "name": "Agent Smith", "present": True}
CUSTOMER = {"id": "b7eff798-f8df-4364-8059-649c35c9ed0c", "type": "customer", "name": "Jane", "present": True}
AGENT_ACCOUNT_ID = "5c9871d5372c824cbf22d860a707a578"  # a LiveChat agent's account ID: not a license id


class Sdk:
    """One release of the SDK, driven over a pipe."""

    def __init__(self, release: str, api_version: str, herald: Herald, pythonpath: str | None) -> None:
        self.release = release
        self.api_version = api_version
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        host = herald.base_url.removeprefix("https://")
        assert herald.ca_file is not None
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), host, herald.ca_file],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def ask(self, request: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the SDK driver for {self.release} died"
        return json.loads(line)

    def call(self, token: str, method: str, **kwargs: Any) -> tuple[int, Any]:
        answer = self.ask(
            {"op": "call", "version": self.api_version, "token": token, "method": method, "kwargs": kwargs}
        )
        return answer["status"], answer["json"]

    def ok(self, token: str, method: str, **kwargs: Any) -> Any:
        status, body = self.call(token, method, **kwargs)
        assert status == 200, (method, status, body)
        return body

    def parse(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.ask({"op": "parse", "version": self.api_version, "body": body})
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def sdk_041(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("lc-sdk-0.4.1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            "lc-sdk-python==0.4.1",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(target)


@pytest.fixture(scope="module", params=BACKENDS)
def tls_herald(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herald]:
    workdir = tmp_path_factory.mktemp(f"herald-tls-{request.param}")
    tls = make_tls(workdir / "tls")
    with deployment(request.param, workdir / "d", ca_file=tls.ca, **tls.env()) as herald:
        yield herald


@pytest.fixture(
    scope="module", params=[("0.4.1", "3.3"), ("0.4.2", "3.7")], ids=["sdk-0.4.1-v3.3", "sdk-0.4.2-v3.7"]
)
def sdk(request: pytest.FixtureRequest, tls_herald: Herald, sdk_041: str) -> Iterator[Sdk]:
    release, api_version = request.param
    client = Sdk(release, api_version, tls_herald, sdk_041 if release == "0.4.1" else None)
    loaded = client.ask({"op": "version"})
    assert loaded["release"] == release, loaded
    try:
        yield client
    finally:
        client.close()


class License:
    """A LiveChat app (Herald application) owned by the developer's license, installed in a customer's
    license; an OAuth token bound to the customer's license and a PAT of the developer's."""

    def __init__(self, herald: Herald) -> None:
        api = herald.api
        self.herald = herald
        self.license = str(random.randint(100_000_000, 999_999_999))
        self.developer = str(random.randint(100_000_000, 999_999_999))
        self.app = api.expect(
            201,
            "POST",
            "/v1/applications",
            json={"name": unique("lc-sdk"), "owner_account_id": self.developer},
        )
        self.client_id: str = self.app["client_id"]
        api.install(self.app["id"], self.license)
        api.install(self.app["id"], self.developer)
        resp = api.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "account_id": self.license},
            auth=(self.client_id, self.app["client_secret"]),
            headers={"authorization": ""},
        )
        assert resp.status_code == 200, resp.text
        self.bearer = f"Bearer {resp.json()['access_token']}"
        pat = api.expect(201, "POST", f"/v1/accounts/{self.developer}/tokens", json={"name": "sdk"})["token"]
        self.basic = "Basic " + base64.b64encode(f"{AGENT_ACCOUNT_ID}:{pat}".encode()).decode()

    def publish(self, action: str, data: dict[str, Any], **fields: Any) -> str:
        event_id = unique("evt-sdk")
        self.herald.api.publish(self.license, {"id": event_id, "type": action, "data": data, **fields})
        return event_id

    def delivered_to(self, event_id: str) -> set[str]:
        return {d["subscription_id"] for d in self.herald.api.deliveries(self.license, event_id=event_id)}


def incoming_chat(*users: dict[str, Any]) -> dict[str, Any]:
    return {"chat": {"id": CHAT_ID, "users": list(users or (CUSTOMER, AGENT)), "thread": {"id": THREAD_ID}}}


def register(sdk: Sdk, lic: License, token: str, url: str, action: str, **fields: Any) -> str:
    body = sdk.ok(
        token,
        "register_webhook",
        action=action,
        secret_key="laudla991lamda0pnoaa0",
        url=url,
        owner_client_id=lic.client_id,
        type=fields.pop("type", "license"),
        **fields,
    )
    return str(body["id"])


def test_every_webhook_method_and_a_parsed_delivery(sdk: Sdk, tls_herald: Herald, receiver: Receiver) -> None:
    lic = License(tls_herald)
    path = receiver.new_path("lc-sdk")
    # 3: a PAT, as LiveChat documents it, registers and lists; the username is the agent's account ID.
    hook = register(sdk, lic, lic.basic, receiver.url(path), "incoming_chat", description="new chats")
    listed = sdk.ok(lic.basic, "list_webhooks", owner_client_id=lic.client_id)
    assert [(w["id"], w["action"], w["type"], w["owner_client_id"]) for w in listed] == [
        (hook, "incoming_chat", "license", lic.client_id)
    ]
    assert "secret_key" not in listed[0]
    # 2: no authorization needed (the SDK sends whatever token it was given: here an empty one).
    names = sdk.ok("", "list_webhook_names")
    assert next(n for n in names if n["action"] == "incoming_chat") == {
        "action": "incoming_chat",
        "filters": ["chat_presence", "only_my_chats"] + (["source_type"] if sdk.api_version != "3.3" else []),
        "additional_data": ["chat_properties", "chat_presence_user_ids"],
    }
    assert "chat_transferred" in {n["action"] for n in names}
    # 1: enabled from installation; the license turns it off and on.
    assert sdk.ok(lic.bearer, "get_license_webhooks_state") == {"license_webhooks_enabled": True}
    first = lic.publish("incoming_chat", incoming_chat())
    assert lic.delivered_to(first) == {hook}
    delivered = receiver.wait_for(path, 1)[0].json()
    assert delivered["webhook_id"] == hook and delivered["action"] == "incoming_chat"
    if sdk.api_version == "3.3":
        assert isinstance(delivered["license_id"], int) and "organization_id" not in delivered
    else:  # 7: v3.4+ name the license organization_id, a string
        assert delivered["organization_id"] == lic.license and "license_id" not in delivered
    assert sdk.parse(delivered) == {
        "class": f"WebhookV{sdk.api_version.replace('.', '')}",
        "payload_class": "IncomingChat",
    }
    assert sdk.ok(lic.bearer, "disable_license_webhooks") == {}
    assert sdk.ok(lic.bearer, "get_license_webhooks_state") == {"license_webhooks_enabled": False}
    assert lic.delivered_to(lic.publish("incoming_chat", incoming_chat())) == set()
    assert sdk.ok(lic.bearer, "enable_license_webhooks") == {}
    # A PAT switches its own license's state, naming the client (the app is installed there too).
    assert sdk.ok(lic.basic, "get_license_webhooks_state", owner_client_id=lic.client_id) == {
        "license_webhooks_enabled": True
    }
    assert lic.delivered_to(lic.publish("incoming_chat", incoming_chat())) == {hook}
    assert sdk.ok(lic.basic, "unregister_webhook", id=hook, owner_client_id=lic.client_id) == {}
    assert sdk.ok(lic.basic, "list_webhooks", owner_client_id=lic.client_id) == []


def test_pat_of_another_license_cannot_touch_the_apps_webhooks(sdk: Sdk, tls_herald: Herald) -> None:
    lic = License(tls_herald)
    stranger = tls_herald.api.expect(201, "POST", f"/v1/accounts/{lic.license}/tokens", json={})["token"]
    basic = "Basic " + base64.b64encode(f"{AGENT_ACCOUNT_ID}:{stranger}".encode()).decode()
    status, body = sdk.call(basic, "list_webhooks", owner_client_id=lic.client_id)
    assert (status, body["error"]["type"], body["error"]["data"]["field"]) == (
        404,
        "not_found",
        "owner_client_id",
    )
    wrong = "Basic " + base64.b64encode(f"{AGENT_ACCOUNT_ID}:hpat_wrong".encode()).decode()
    assert sdk.call(wrong, "list_webhooks", owner_client_id=lic.client_id)[0] == 401


def test_documented_filters_chat_transferred_and_bot_webhooks(
    sdk: Sdk, tls_herald: Herald, receiver: Receiver
) -> None:
    lic = License(tls_herald)
    # 4: chat_presence and only_my_chats on a tag action.
    tagged = register(
        sdk,
        lic,
        lic.bearer,
        receiver.url(receiver.new_path("lc-tag")),
        "thread_tagged",
        filters={"chat_presence": {"user_ids": {"values": [AGENT["id"]]}}},
    )
    tag = {"chat_id": CHAT_ID, "thread_id": THREAD_ID, "tag": "sales"}
    assert lic.delivered_to(lic.publish("thread_tagged", tag, context={"chat_users": [AGENT]})) == {tagged}
    assert lic.delivered_to(lic.publish("thread_tagged", tag, context={"chat_users": [CUSTOMER]})) == set()
    # 5: chat_transferred, delivered and parsed by the SDK.
    path = receiver.new_path("lc-transfer")
    transferred = register(sdk, lic, lic.bearer, receiver.url(path), "chat_transferred")
    payload = {
        "chat_id": CHAT_ID,
        "thread_id": THREAD_ID,
        "requester_id": AGENT["id"],
        "reason": "manual",
        "transferred_to": {"group_ids": [1]},
    }
    assert lic.delivered_to(lic.publish("chat_transferred", payload)) == {transferred}
    body = receiver.wait_for(path, 1)[0].json()
    assert sdk.parse(body)["payload_class"] == "ChatTransferred"
    # 6: a bot webhook fires for the chats a bot of its client takes part in.
    bot_path = receiver.new_path("lc-bot")
    bot_hook = register(sdk, lic, lic.bearer, receiver.url(bot_path), "incoming_chat", type="bot")
    listed = {w["id"]: w["type"] for w in sdk.ok(lic.bearer, "list_webhooks", owner_client_id=lic.client_id)}
    assert listed[bot_hook] == "bot"
    bot = {"id": "bot-1", "type": "agent", "name": "Helper", "owner_client_id": lic.client_id}
    assert lic.delivered_to(lic.publish("incoming_chat", incoming_chat(CUSTOMER, bot))) == {bot_hook}
    assert lic.delivered_to(lic.publish("incoming_chat", incoming_chat(CUSTOMER, AGENT))) == set()
    wait_until("the bot webhook", lambda: receiver.requests(bot_path), 10)
    assert sdk.parse(receiver.requests(bot_path)[0].json())["payload_class"] == "IncomingChat"


def test_newer_versions_have_their_own_actions(sdk: Sdk, tls_herald: Herald, receiver: Receiver) -> None:
    lic = License(tls_herald)
    url = receiver.url(receiver.new_path("lc-version"))
    names = {n["action"] for n in sdk.ok("", "list_webhook_names")}
    status, body = sdk.call(
        lic.bearer,
        "register_webhook",
        action="chat_access_granted" if sdk.api_version != "3.3" else "tag_created",
        secret_key="k",
        url=url,
        owner_client_id=lic.client_id,
        type="license",
    )
    assert (status, body["error"]["type"], body["error"]["data"]["field"]) == (422, "validation", "action")
    if sdk.api_version == "3.7":
        assert {"chat_access_updated", "agent_created", "tag_created"} <= names
        assert "incoming_customer" not in names
        path = receiver.new_path("lc-agent")
        hook = register(sdk, lic, lic.bearer, receiver.url(path), "agent_created")
        event = lic.publish(
            "agent_created", {"id": "jones@example.com", "name": "Jones", "awaiting_approval": False}
        )
        assert lic.delivered_to(event) == {hook}
        assert sdk.parse(receiver.wait_for(path, 1)[0].json())["payload_class"] == "AgentCreated"
    else:
        assert "chat_access_granted" in names and "agent_created" not in names
