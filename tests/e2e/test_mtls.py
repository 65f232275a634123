"""mTLS and transport safety end to end, with real nginx as the TLS receiver (it proxies to the recording
Receiver and tells it which client certificate it verified): certificate mappings through the API, a
server that demands a client certificate, the LivePerson-style forward gateway (`herald mtls-gateway`),
TLS 1.2 as the floor, and plain http:// refused unless allowed."""

from __future__ import annotations

import datetime as dt
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_harness import BACKENDS, Api, Herald, Proc, Receiver, deployment, free_port, unique, wait_until
from nginx_tls import NginxTls, start_nginx

from herald.dispatch.transports import TRANSPORTS

GATEWAY_TOKEN = "gw-" + "t" * 30
REFRESH = 1.0  # HERALD_MTLS_REFRESH for the workers of the PostgreSQL deployment and the gateway


@pytest.fixture(scope="module")
def nginx(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxTls]:
    n = start_nginx(tmp_path_factory.mktemp("nginx"), receiver.port)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(
    scope="module",
    params=[(b, t) for b in BACKENDS for t in TRANSPORTS],
    ids=[f"{b}-{t}" for b in BACKENDS for t in TRANSPORTS],
)
def tls_herald(
    request: pytest.FixtureRequest, nginx: NginxTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Herald, str]]:
    """A deployment that trusts the test CA (HERALD_CA_BUNDLE) and has a forward gateway beside it, once
    per backend and transport (HERALD_TRANSPORT). On SQLite one process serves the API and delivers
    (mapping changes apply at once, with the default 150 s refresh); on PostgreSQL separate workers pick
    changes up within HERALD_MTLS_REFRESH."""
    backend, transport = request.param
    gateway_port = free_port()
    env = {
        "HERALD_TRANSPORT": transport,
        "HERALD_CA_BUNDLE": str(nginx.ca_file),
        "HERALD_MTLS_GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
        "HERALD_GATEWAY_TOKEN": GATEWAY_TOKEN,
        "HERALD_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
    }
    if backend == "postgresql":
        env["HERALD_MTLS_REFRESH"] = str(REFRESH)
    workdir = tmp_path_factory.mktemp(f"tls-{backend}-{transport}")
    with deployment(backend, workdir, workers=1, **env) as herald:
        gateway_env = {**herald.env, "HERALD_MTLS_REFRESH": str(REFRESH)}
        gateway = Proc("gateway", ["mtls-gateway"], gateway_env, workdir, workdir / "gateway.log").start()
        herald.procs.append(gateway)
        wait_until("the gateway to listen", lambda: _listening(gateway_port, gateway), 20)
        yield herald, f"http://127.0.0.1:{gateway_port}"


def _listening(port: int, proc: Proc) -> bool:
    assert proc.alive, proc.log_text()
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def mapping(api: Api, account: str, url: str, cert: str, key: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "certificate": cert, "private_key": key, **extra}
    return api.expect(201, "POST", f"/v1/accounts/{account}/mtls-mappings", json=body)


def deliver(api: Api, account: str, sub_type: str) -> dict[str, Any]:
    event_id = unique("evt-tls")
    api.publish(account, {"id": event_id, "type": sub_type, "data": {"n": 1}})
    return api.settled(account, event_id=event_id, timeout=20)


def pick_up(herald: Herald) -> None:
    """Separate workers see another process's mapping change within HERALD_MTLS_REFRESH."""
    if herald.backend == "postgresql":
        time.sleep(REFRESH + 0.5)


def test_https_verified_against_configured_ca(
    tls_herald: tuple[Herald, str], nginx: NginxTls, receiver: Receiver
) -> None:
    herald, _ = tls_herald
    api, account, path = herald.api, unique("acct"), receiver.new_path("tls")
    sub = api.account_subscription(account, nginx.url(nginx.tls_port, path), ["tls.event"], max_retries=0)
    assert sub["mtls"] is False and sub["mtls_via_gateway"] is False
    assert deliver(api, account, "tls.event")["status"] == "delivered"
    [req] = receiver.wait_for(path, 1)
    assert req.headers["x-tls-protocol"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_untrusted_server_certificate_fails_with_tls(
    herald_factory: Any, transport: str, nginx: NginxTls, receiver: Receiver, account: str
) -> None:
    # This deployment does not trust the test CA: verification fails, nothing reaches the receiver.
    api = herald_factory("sqlite", HERALD_TRANSPORT=transport).api
    path = receiver.new_path("untrusted")
    api.account_subscription(account, nginx.url(nginx.tls_port, path), ["tls.event"], max_retries=0)
    delivery = deliver(api, account, "tls.event")
    assert delivery["status"] == "dead" and delivery["last_error_kind"] == "tls", delivery
    assert receiver.requests(path) == []


def test_mapping_lifecycle_against_a_server_that_demands_a_certificate(
    tls_herald: tuple[Herald, str], nginx: NginxTls, receiver: Receiver
) -> None:
    herald, _ = tls_herald
    api, account, path = herald.api, unique("acct"), receiver.new_path("mtls")
    url = nginx.url(nginx.mtls_port, path) + "?tenant=7"
    sub = api.account_subscription(account, url, ["mtls.event"], max_retries=0)
    assert sub["mtls"] is False

    # No certificate: nginx refuses the request itself (400), the receiver behind it never sees it.
    refused = deliver(api, account, "mtls.event")
    assert refused["status"] == "dead" and refused["attempt_log"][0]["status_code"] == 400, refused
    assert receiver.requests(path) == []

    cert, key = nginx.client_material("first-client")
    made = mapping(api, account, url, cert, key, ca_bundle=nginx.ca.cert_pem.bytes().decode())
    assert "private_key" not in made and made["service"] == "WEBHOOKS" and len(made["fingerprint"]) == 64
    assert api.expect(200, "GET", f"/v1/accounts/{account}/subscriptions/{sub['id']}")["mtls"] is True
    pick_up(herald)
    assert deliver(api, account, "mtls.event")["status"] == "delivered"
    [req] = receiver.wait_for(path, 1)
    assert req.headers["x-client-verify"] == "SUCCESS"
    assert "CN=first-client" in req.headers["x-client-subject"]

    # Replace: the new certificate is presented.
    cert2, key2 = nginx.client_material("second-client")
    body = {"url": url, "certificate": cert2, "private_key": key2}
    api.expect(200, "PUT", f"/v1/accounts/{account}/mtls-mappings/{made['id']}", json=body)
    pick_up(herald)
    assert deliver(api, account, "mtls.event")["status"] == "delivered"
    assert "CN=second-client" in receiver.wait_for(path, 2)[1].headers["x-client-subject"]

    # A URL that differs only in its query string is another triplet: no certificate there.
    other = api.account_subscription(account, nginx.url(nginx.mtls_port, path) + "?tenant=8", ["x.event"])
    assert other["mtls"] is False

    # Delete: refused again.
    api.expect(204, "DELETE", f"/v1/accounts/{account}/mtls-mappings/{made['id']}")
    pick_up(herald)
    again = deliver(api, account, "mtls.event")
    assert again["status"] == "dead" and again["attempt_log"][0]["status_code"] == 400, again


def test_server_offering_only_tls_1_0_and_1_1_is_refused(
    tls_herald: tuple[Herald, str], nginx: NginxTls
) -> None:
    # Does the local OpenSSL even let nginx offer TLS 1.0/1.1? (OpenSSL 3 may refuse them at any security
    # level.) Either way Herald's handshake, which starts at TLS 1.2, must fail with error kind `tls`.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # naming TLS 1.0/1.1 is deprecated: that's the point
        probe.minimum_version, probe.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    probe.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        httpx.get(nginx.url(nginx.old_port, "/"), verify=probe, timeout=5)
        offers_old_tls = True
    except httpx.HTTPError:
        offers_old_tls = False  # documented: this OpenSSL cannot speak TLS < 1.2 at all
    herald, _ = tls_herald
    api, account = herald.api, unique("acct")
    api.account_subscription(account, nginx.url(nginx.old_port, "/old"), ["old.event"], max_retries=0)
    delivery = deliver(api, account, "old.event")
    assert delivery["status"] == "dead", (offers_old_tls, delivery)
    assert delivery["attempt_log"][0]["error_kind"] == "tls", (offers_old_tls, delivery)


def test_delivery_through_the_forward_gateway(
    tls_herald: tuple[Herald, str], nginx: NginxTls, receiver: Receiver
) -> None:
    herald, _ = tls_herald
    api, account, path = herald.api, unique("acct"), receiver.new_path("gw")
    url = nginx.url(nginx.mtls_port, path)
    cert, key = nginx.client_material("gateway-client")
    mapping(api, account, url, cert, key)
    sub = api.account_subscription(account, url, ["gw.event"], max_retries=0, mtls_via_gateway=True)
    assert sub["mtls_via_gateway"] is True and sub["mtls"] is True
    time.sleep(REFRESH + 0.5)  # the gateway is another process
    delivery = deliver(api, account, "gw.event")
    assert delivery["status"] == "delivered", delivery
    [req] = receiver.wait_for(path, 1)
    assert (
        req.headers["x-client-verify"] == "SUCCESS" and "CN=gateway-client" in req.headers["x-client-subject"]
    )
    assert req.json()["data"] == {"n": 1}
    assert "lp-forward-url" not in req.headers and GATEWAY_TOKEN not in str(req.headers)
    logged = delivery["attempt_log"][0]["request_headers"]
    assert GATEWAY_TOKEN not in str(logged)


def test_gateway_protocol(tls_herald: tuple[Herald, str], nginx: NginxTls, receiver: Receiver) -> None:
    herald, gateway = tls_herald
    account, path = unique("acct"), receiver.new_path("gwp")
    url = nginx.url(nginx.mtls_port, path)
    auth = {"Authorization": f"Bearer {GATEWAY_TOKEN}", "LP-service-name": "WEBHOOKS", "LP-forward-url": url}
    post = f"{gateway}/mtls/account/{account}"
    assert (
        httpx.post(post, content=b"{}", headers={**auth, "Authorization": "Bearer wrong"}).status_code == 401
    )

    # No certificate mapped and asked to stop: 424 with the transport's message.
    stopped = httpx.post(post, content=b"{}", headers={**auth, "LP-stop-if-certificate-not-found": "true"})
    assert stopped.status_code == 424
    assert stopped.headers["LP-error-from-transport"] == "tls"
    assert "no certificate" in stopped.headers["LP-message-from-transport"]
    # Not asked to stop: plain TLS, and the endpoint's own answer (nginx: 400, no client certificate).
    assert httpx.post(post, content=b"{}", headers=auth).status_code == 400
    # A transport failure: 424.
    dead_url = f"https://127.0.0.1:{free_port()}/x"
    failed = httpx.post(post, content=b"{}", headers={**auth, "LP-forward-url": dead_url})
    assert failed.status_code == 424 and failed.headers["LP-error-from-transport"] == "refused"

    cert, key = nginx.client_material("proto-client")
    mapping(herald.api, account, url, cert, key)
    time.sleep(REFRESH + 0.5)
    ok = httpx.post(post, content=b'{"hello":1}', headers={**auth, "LP-forward-authorization": "Bearer own"})
    assert ok.status_code == 200, ok.text
    [req] = receiver.wait_for(path, 1)
    assert req.body == b'{"hello":1}' and req.headers["authorization"] == "Bearer own"


def test_upload_rejections(api: Api, account: str, tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    now = dt.datetime.now(dt.UTC)
    url = "https://hooks.example.com/in"
    old = ca.issue_cert(
        "old.example.com", not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1)
    )
    good, other = ca.issue_cert("good.example.com"), ca.issue_cert("other.example.com")

    def pem(blob: trustme.Blob) -> str:
        return blob.bytes().decode()

    def refused(status: int, field: str, **body: Any) -> str:
        resp = api.request("POST", f"/v1/accounts/{account}/mtls-mappings", json=body)
        assert resp.status_code == status, resp.text
        error = resp.json()["error"]
        assert error["data"]["field"] == field, error
        return str(error["message"])

    cert, key = pem(good.cert_chain_pems[0]), pem(good.private_key_pem)
    assert "expired" in refused(
        422,
        "certificate",
        url=url,
        certificate=pem(old.cert_chain_pems[0]),
        private_key=pem(old.private_key_pem),
    )
    assert "does not match" in refused(
        422, "private_key", url=url, certificate=cert, private_key=pem(other.private_key_pem)
    )
    refused(422, "ca_bundle", url=url, certificate=cert, private_key=key, ca_bundle="nope")
    refused(422, "url", url="http://hooks.example.com/in", certificate=cert, private_key=key)
    made = mapping(api, account, url, cert, key)
    assert "already exists" in refused(409, "url", url=url, certificate=cert, private_key=key)
    listed = api.expect(200, "GET", f"/v1/accounts/{account}/mtls-mappings")
    assert [m["id"] for m in listed["data"]] == [made["id"]]
    assert key not in str(listed) and key not in str(
        api.expect(200, "GET", f"/v1/accounts/{account}/mtls-mappings/{made['id']}")
    )
    api.expect(404, "GET", f"/v1/accounts/{unique('acct')}/mtls-mappings/{made['id']}")


def test_plain_http_refused_unless_allowed(herald_factory: Any, account: str) -> None:
    strict = herald_factory("sqlite", HERALD_ALLOW_PRIVATE_TARGETS="0")
    resp = strict.api.request(
        "POST",
        f"/v1/accounts/{account}/subscriptions",
        json={"url": "http://hooks.example.com/in", "event_types": ["*"]},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["data"]["field"] == "url" and "http://" in resp.json()["error"]["message"]
    strict.api.account_subscription(account, "https://hooks.example.com/in", ["*"])
