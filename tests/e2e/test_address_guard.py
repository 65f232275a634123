"""The address guard against a strict Herald (no development mode, one loopback /32 allow-listed for the
legitimate receiver): every hostile URL form in `hostile_urls.HOSTILE` is refused at creation with 422
naming the URL field, or, when accepted (a name: names are resolved only at delivery), is recorded as
`blocked_target` at delivery while a trap listening on the loopback addresses it aims at receives zero
connections. The legitimate receiver gets its delivery, so the deployment does deliver."""

from __future__ import annotations

import contextlib
import html
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from dashboard_client import Ui, personal_token
from e2e_harness import Api, Herald, Proc, free_port, unique, wait_until
from hostile_urls import BLOCKED, HOSTILE, REFUSED
from test_app_installations import CONTENT
from test_livechat_compat import Setup, call

LEGIT = "127.0.0.2"  # the only loopback address the strict deployment allows


class Trap:
    """Listens on 127.0.0.1:P and [::1]:P and counts every connection it is offered."""

    def __init__(self) -> None:
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self._sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):  # no IPv6 loopback on this machine: IPv4 alone
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        for sock in self._sockets:
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            conn.close()

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


class LegitReceiver:
    def __init__(self) -> None:
        received: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(self.path)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.received = received
        self.server = ThreadingHTTPServer((LEGIT, 0), Handler)
        self.url = f"http://{LEGIT}:{self.server.server_address[1]}/legit"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def legit() -> Iterator[LegitReceiver]:
    r = LegitReceiver()
    try:
        yield r
    finally:
        r.close()


def strict(herald_factory: Callable[..., Herald], backend: str) -> Herald:
    return herald_factory(
        backend,
        workers=1,
        HERALD_ALLOW_PRIVATE_TARGETS="0",
        HERALD_ALLOW_HTTP="1",
        HERALD_ALLOW_SUBNETS=f"{LEGIT}/32",
    )


def test_hostile_table_is_large_and_covers_every_category() -> None:
    assert len(HOSTILE) >= 100
    assert {c for c, _, _ in HOSTILE} >= {
        "unicode", "numeric", "ipv4", "ipv6", "localhost", "userinfo", "scheme", "crlf", "port", "malformed",
    }  # fmt: skip
    assert len({url for _, url, _ in HOSTILE}) == len(HOSTILE)


def test_hostile_urls_are_refused_or_never_connected(
    herald_factory: Callable[..., Herald], backend: str, trap: Trap, legit: LegitReceiver
) -> None:
    herald = strict(herald_factory, backend)
    api = herald.api
    account = unique("acct-guard")
    app = api.create_application("guard")
    accepted: list[tuple[str, str]] = []  # (canonical URL, subscription id)
    wrong: list[str] = []
    results: Counter[tuple[str, str]] = Counter()
    for category, template, expected in HOSTILE:
        url = template.format(p=trap.port)
        for owner in (f"/v1/accounts/{account}", f"/v1/applications/{app['id']}"):
            body = {"url": url, "event_types": ["trap.event"], "max_retries": 0}
            resp = api.request("POST", f"{owner}/subscriptions", json=body)
            got = REFUSED if resp.status_code == 422 else BLOCKED if resp.status_code == 201 else "?"
            if got == REFUSED:
                error = resp.json()["error"]
                if error["data"].get("field") != "url" or not error["message"].startswith("url: "):
                    wrong.append(f"{url!r}: 422 without naming url: {error}")
            if got != expected:
                wrong.append(f"{category} {url!r} via {owner}: expected {expected}, got {resp.status_code}")
            elif got == BLOCKED and owner.startswith("/v1/accounts"):
                accepted.append((resp.json()["url"], resp.json()["id"]))
        results[(category, expected)] += 1
    # Nothing unexpected was created, so nothing outside loopback can be dialled below.
    assert not wrong, "\n".join(wrong)

    kinds: Counter[str] = Counter()
    legit_sub = api.account_subscription(account, legit.url, ["trap.event"], max_retries=0)
    event_id = unique("evt-trap")
    api.publish(account, {"id": event_id, "type": "trap.event", "data": {"x": 1}})

    assert api.settled(account, event_id=event_id, subscription_id=legit_sub["id"])["status"] == "delivered"
    for url, subscription_id in accepted:
        delivery = api.settled(account, event_id=event_id, subscription_id=subscription_id)
        assert delivery["status"] == "dead", (url, delivery)
        [attempt] = delivery["attempt_log"]
        kinds[attempt["error_kind"]] += 1
        if attempt["error_kind"] == "dns" and ".:" in url:
            continue  # `localhost.` (absolute) is unknown to some resolvers: never connected either
        assert attempt["error_kind"] == "blocked_target", (url, attempt)
        assert (
            "resolves only to addresses that are not allowed: 127.0.0.1 (loopback)"
            in (attempt["error_message"])
        ), (url, attempt)
    assert trap.connections == 0
    assert legit.received == ["/legit"]
    print("hostile forms by category and result:", dict(sorted(results.items())), "at delivery:", kinds)


DISGUISED = [
    "http://127.1:{p}/",
    "http://2130706433:{p}/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/",
    "http://127\u30020\u30020\u30021:{p}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "http://[::1]:{p}/",
    "http://example.com:0/",
    "http://exa mple.com/",
    "http://user@localhost:{p}/",
]


def test_every_entry_point_refuses_a_disguised_loopback(
    herald_factory: Callable[..., Herald], backend: str, trap: Trap
) -> None:
    """Applications' operational_url, subscription edits, app-installation manifests and LiveChat
    register_webhook share the subscriptions' URL rules: 422 naming the field's path."""
    herald = strict(herald_factory, backend)
    api = herald.api
    account = unique("acct-entry")
    app = api.create_application("entry")
    sub = api.account_subscription(account, "https://example.com/hook", ["x.event"])
    livechat = Setup(herald)
    for template in DISGUISED:
        url = template.format(p=trap.port)
        manifest = {"client_name": "m", "capabilities": {"webhooks": {CONTENT: {"endpoint": url}}}}
        for method, path, body, field in (
            ("POST", "/v1/applications", {"name": "x", "operational_url": url}, "operational_url"),
            ("PATCH", f"/v1/applications/{app['id']}", {"operational_url": url}, "operational_url"),
            ("PATCH", f"/v1/accounts/{account}/subscriptions/{sub['id']}", {"url": url}, "url"),
            (
                "POST",
                f"/v1/accounts/{account}/app-installations",
                manifest,
                f"capabilities.webhooks.{CONTENT}.endpoint",
            ),
        ):
            resp = api.request(method, path, json=body)
            assert resp.status_code == 422, (url, path, resp.text)
            assert resp.json()["error"]["data"]["field"] == field, (url, path, resp.text)
        registration = {
            "url": url,
            "action": "incoming_chat",
            "secret_key": "sk",
            "owner_client_id": livechat.client_id,
            "type": "license",
        }
        resp = call(herald, "register_webhook", registration, token=livechat.token)
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error"]["data"]["field"] == "url", (url, resp.text)
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}")["url"] == (
        "https://example.com/hook"
    )
    # The dashboard's Data Transporter form: the same checks, the form again with the reason.
    credential = api.expect(
        201, "POST", f"/v1/accounts/{account}/credentials", json={"name": "k", "scheme": "lp-signature"}
    )
    ui = Ui(herald)
    try:
        assert ui.sign_in(personal_token(api, account)).status_code == 303
        for template, reason in (
            ("http://127.1:{p}/", "is not a canonical IPv4 address"),
            ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/", "127.0.0.1 is not allowed (loopback)"),
        ):
            form = {
                "url": template.format(p=trap.port),
                "event_types": "AgentStateChangedEvent",
                "credential_id": credential["id"],
            }
            page = ui.post(f"/ui/a/{account}/subscriptions", form)
            assert page.status_code == 422 and reason in html.unescape(page.text), page.text[:2000]
    finally:
        ui.close()
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions")["data"] == [
        api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}")
    ]
    assert trap.connections == 0


def test_the_mtls_gateway_vets_lp_forward_url(
    herald_factory: Callable[..., Herald], backend: str, trap: Trap, tmp_path: Any
) -> None:
    """The gateway dials whatever `LP-forward-url` says: the same canonical form and the same guard."""
    herald = strict(herald_factory, backend)
    port, token = free_port(), "gw-token-guard"
    env = {**herald.env, "HERALD_GATEWAY_TOKEN": token, "HERALD_GATEWAY_LISTEN": f"127.0.0.1:{port}"}
    gateway = Proc("gateway", ["mtls-gateway"], env, tmp_path, tmp_path / "gateway.log").start()
    herald.procs.append(gateway)

    def listening() -> bool:
        assert gateway.alive, gateway.log_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    wait_until("the gateway to listen", listening, 20)
    post = f"http://127.0.0.1:{port}/mtls/account/{unique('acct')}"
    headers = {"Authorization": f"Bearer {token}", "LP-service-name": "WEBHOOKS"}
    for template in DISGUISED:
        url = template.format(p=trap.port)
        resp = httpx.post(post, content=b"{}", headers={**headers, "LP-forward-url": url.encode()})
        if resp.status_code == 424:  # canonical, refused by the guard when dialled
            assert resp.headers["LP-error-from-transport"] == "blocked_target", (url, resp.headers)
            assert "is not allowed" in resp.headers["LP-message-from-transport"]
        else:
            assert resp.status_code == 400, (url, resp.status_code, resp.text)
            assert "LP-forward-url" in resp.text
    for url in (f"http://localhost:{trap.port}/", f"http://127.0.0.1:{trap.port}/"):
        resp = httpx.post(post, content=b"{}", headers={**headers, "LP-forward-url": url})
        assert resp.status_code == 424, resp.text
        assert resp.headers["LP-error-from-transport"] == "blocked_target"
    assert trap.connections == 0


def test_mtls_mappings_match_subscriptions_by_their_canonical_url(api: Api, account: str) -> None:
    """A mapping applies to the subscription with the same URL: both are stored canonical, however
    they were written."""
    import trustme

    cert = trustme.CA().issue_cert("hooks.example.com")
    mapping = api.expect(
        201,
        "POST",
        f"/v1/accounts/{account}/mtls-mappings",
        json={
            "url": "HTTPS://Hooks.EXAMPLE.com:443/in",
            "certificate": cert.cert_chain_pems[0].bytes().decode(),
            "private_key": cert.private_key_pem.bytes().decode(),
        },
    )
    assert mapping["url"] == "https://hooks.example.com/in"
    fullwidth = "https://hooks.\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com/in"
    sub = api.account_subscription(account, fullwidth, ["m"])
    assert (sub["url"], sub["mtls"]) == ("https://hooks.example.com/in", True)
