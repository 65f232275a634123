"""AiohttpTransport through a real HTTP proxy (tinyproxy on loopback): plain HTTP in absolute form and
HTTPS through CONNECT, both to the address the guard vetted (never a name the proxy resolves again), the
certificate still checked against the endpoint's name, mTLS inside the tunnel, and a blocked destination
refused before the proxy hears of it."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from herald.config import ConfigError
from herald.dispatch.guard import AddressGuard
from herald.dispatch.transport import AiohttpTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError
from tinyproxy_harness import Tinyproxy, needs_tinyproxy

pytestmark = needs_tinyproxy()

LOOPBACK_ONLY = AddressGuard(allow_subnets=[ipaddress.ip_network("127.0.0.1/32")])
NOTHING_PRIVATE = AddressGuard()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    p = Tinyproxy(tmp_path / "proxy")
    try:
        yield p
    finally:
        p.stop()


class Server:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, str | None, bool]] = []  # path, body, Host, client cert shown
        self.port = 0
        self.proxy_credentials_seen = False  # a proxy's credentials must never reach the receiver


async def _serve(tls: ssl.SSLContext | None) -> AsyncIterator[Server]:
    server = Server()

    async def hook(request: web.Request) -> web.Response:
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        server.seen.append((request.path, await request.read(), request.headers.get("Host"), bool(peer)))
        server.proxy_credentials_seen |= "Proxy-Authorization" in request.headers
        return web.Response(status=200, text="through")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def plain() -> AsyncIterator[Server]:
    async for s in _serve(None):
        yield s


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)  # the name only: an IP would not match it
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _client_tls(ca: trustme.CA, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if with_cert:
        ca.issue_cert("herald-client@example.com").configure_cert(ctx)
    return ctx


async def _send(transport: AiohttpTransport, url: str, tls: ssl.SSLContext | None = None) -> object:
    try:
        return await transport.send(Request(url, b'{"n":1}', {"content-type": "application/json"}, tls=tls))
    finally:
        await transport.close()


async def test_plain_http_goes_to_the_vetted_address_in_absolute_form(
    proxy: Tinyproxy, plain: Server
) -> None:
    transport = AiohttpTransport(guard=LOOPBACK_ONLY, proxy=proxy.url)
    result = await _send(transport, f"http://localhost:{plain.port}/hook?x=1")
    assert result == Response(200, b"through", {})
    # The proxy was asked for the address the guard vetted, not for the name.
    assert proxy.requests() == [f"POST http://127.0.0.1:{plain.port}/hook?x=1"]
    # RFC 9112 3.2.2: a proxy takes Host from the absolute-form target, so the receiver sees the address.
    assert plain.seen == [("/hook", b'{"n":1}', f"127.0.0.1:{plain.port}", False)]


async def test_a_blocked_destination_never_reaches_the_proxy(proxy: Tinyproxy, plain: Server) -> None:
    transport = AiohttpTransport(guard=NOTHING_PRIVATE, proxy=proxy.url)  # the proxy itself is loopback
    result = await _send(transport, f"http://localhost:{plain.port}/hook")
    assert isinstance(result, TransportError) and result.kind is ErrorKind.BLOCKED_TARGET
    assert proxy.requests() == []
    assert plain.seen == []


async def test_https_through_connect_checks_the_certificate_against_the_name(
    proxy: Tinyproxy, ca: trustme.CA
) -> None:
    async for server in _serve(_server_tls(ca, require_client_cert=False)):
        transport = AiohttpTransport(guard=LOOPBACK_ONLY, tls=_client_tls(ca, False), proxy=proxy.url)
        result = await _send(transport, f"https://localhost:{server.port}/hook")
        assert result == Response(200, b"through", {})
        assert proxy.requests() == [f"CONNECT 127.0.0.1:{server.port}"]
        assert server.seen == [("/hook", b'{"n":1}', f"localhost:{server.port}", False)]
        # A certificate for another name is refused, through the tunnel too.
        other = trustme.CA()
        transport = AiohttpTransport(guard=LOOPBACK_ONLY, tls=_client_tls(other, False), proxy=proxy.url)
        refused = await _send(transport, f"https://localhost:{server.port}/hook")
        assert isinstance(refused, TransportError) and refused.kind is ErrorKind.TLS


async def test_mtls_inside_the_tunnel(proxy: Tinyproxy, ca: trustme.CA) -> None:
    async for server in _serve(_server_tls(ca, require_client_cert=True)):
        url = f"https://localhost:{server.port}/hook"
        transport = AiohttpTransport(guard=LOOPBACK_ONLY, tls=_client_tls(ca, False), proxy=proxy.url)
        result = await _send(transport, url, tls=_client_tls(ca, with_cert=True))
        assert result == Response(200, b"through", {})
        assert server.seen[-1][3] is True  # the server saw Herald's client certificate
        without = AiohttpTransport(guard=LOOPBACK_ONLY, tls=_client_tls(ca, False), proxy=proxy.url)
        refused = await _send(without, url)
        assert isinstance(refused, TransportError)
        assert len(server.seen) == 1
        assert proxy.requests() == [f"CONNECT 127.0.0.1:{server.port}"] * 2


async def test_proxy_credentials_in_the_url(tmp_path: Path, plain: Server, ca: trustme.CA) -> None:
    proxy = Tinyproxy(tmp_path / "auth-proxy", basic_auth=("herald", "s3cret"))
    try:
        with_auth = proxy.url.replace("http://", "http://herald:s3cret@")
        ok = await _send(
            AiohttpTransport(guard=LOOPBACK_ONLY, proxy=with_auth), f"http://localhost:{plain.port}/hook"
        )
        assert ok == Response(200, b"through", {})
        refused = await _send(
            AiohttpTransport(guard=LOOPBACK_ONLY, proxy=proxy.url), f"http://localhost:{plain.port}/hook"
        )
        assert isinstance(refused, Response) and refused.status == 407
        assert len(plain.seen) == 1
        async for server in _serve(_server_tls(ca, require_client_cert=False)):
            tunnel = AiohttpTransport(guard=LOOPBACK_ONLY, tls=_client_tls(ca, False), proxy=with_auth)
            assert await _send(tunnel, f"https://localhost:{server.port}/hook") == Response(
                200, b"through", {}
            )
            assert not server.proxy_credentials_seen
        assert proxy.requests()[-1].startswith("CONNECT 127.0.0.1:")
    finally:
        proxy.stop()


async def test_a_request_may_name_a_proxy(proxy: Tinyproxy, plain: Server) -> None:
    """Per subscription: a named proxy for the requests that ask for it; the others go direct, their
    destination resolved by the guard as ever."""
    transport = AiohttpTransport(guard=LOOPBACK_ONLY, proxies={"audit": proxy.url})
    try:
        url = f"http://localhost:{plain.port}/hook"
        body, headers = b'{"n":1}', {"content-type": "application/json"}
        assert await transport.send(Request(url, body, headers, proxy="audit")) == Response(
            200, b"through", {}
        )
        assert await transport.send(Request(url, body, headers)) == Response(200, b"through", {})
        unknown = await transport.send(Request(url, body, headers, proxy="gone"))
        assert isinstance(unknown, TransportError) and "gone" in unknown.message
        blocked = AiohttpTransport(guard=NOTHING_PRIVATE, proxies={"audit": proxy.url})
        refused = await _send(blocked, url)  # direct: the guard refuses loopback
        assert isinstance(refused, TransportError) and refused.kind is ErrorKind.BLOCKED_TARGET
    finally:
        await transport.close()
    assert proxy.requests() == [f"POST http://127.0.0.1:{plain.port}/hook"]  # only the one that asked
    assert len(plain.seen) == 2


def test_the_proxy_setting_is_checked() -> None:
    for bad in ("socks5://127.0.0.1:1080", "127.0.0.1:3128", "http://", "http://host:notaport"):
        with pytest.raises(ConfigError, match="HERALD_EGRESS_PROXY"):
            AiohttpTransport(proxy=bad)
