"""Every transport against a real local HTTP server: no redirects, exact bytes, bounded reads, errors.
The conformance suite: each test runs once per transport (aiohttp and reqwest)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from herald.dispatch.guard import AddressGuard
from herald.dispatch.transport import RESPONSE_BODY_LIMIT, AiohttpTransport, Transport
from herald.dispatch.transport_reqwest import ReqwestTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError

MakeTransport = Callable[..., Transport]


@pytest.fixture(params=[AiohttpTransport, ReqwestTransport], ids=["aiohttp", "reqwest"])
def make(request: pytest.FixtureRequest) -> MakeTransport:
    """Builds the transport under test; both take connect_timeout, read_timeout and guard."""
    cls: Any = request.param
    return cls  # type: ignore[no-any-return]


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, dict[str, str]]] = []
        self.base = ""
        self.release = asyncio.Event()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def record(request: web.Request) -> web.Response:
        rec.received.append((request.path, await request.read(), dict(request.headers)))
        return web.Response(status=200, text="ok")

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/target"})

    async def to_metadata(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=429, text="slow down", headers={"Retry-After": "30"})

    async def big(request: web.Request) -> web.Response:
        return web.Response(status=500, body=b"x" * (RESPONSE_BODY_LIMIT * 3))

    async def sleepy(request: web.Request) -> web.Response:
        await rec.release.wait()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", record)
    app.router.add_route("*", "/target", record)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/to-metadata", to_metadata)
    app.router.add_post("/busy", busy)
    app.router.add_post("/big", big)
    app.router.add_post("/sleepy", sleepy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.base = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()


async def test_sends_exact_bytes_and_headers(receiver: Receiver, make: MakeTransport) -> None:
    transport = make()
    body = b'{"type":"t","data":{"a":1}}'
    headers = {"content-type": "application/json", "webhook-id": "dlv_1", "user-agent": "Herald/test"}
    try:
        result = await transport.send(Request(receiver.base + "/hook", body, headers))
    finally:
        await transport.close()
    assert result == Response(200, b"ok", {})
    [(path, got_body, got_headers)] = receiver.received
    assert (path, got_body) == ("/hook", body)
    lowered = {k.lower(): v for k, v in got_headers.items()}
    assert lowered["webhook-id"] == "dlv_1"
    assert lowered["user-agent"] == "Herald/test"
    assert lowered["content-type"] == "application/json"


async def test_redirects_are_not_followed(receiver: Receiver, make: MakeTransport) -> None:
    transport = make()
    try:
        result = await transport.send(Request(receiver.base + "/redirect", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, Response)
    assert result.status == 302
    assert receiver.received == []


async def test_a_redirect_to_the_metadata_address_is_not_followed(
    receiver: Receiver, make: MakeTransport
) -> None:
    # The receiver itself is allowed (loopback opened explicitly); the cloud metadata address never is.
    guard = AddressGuard(allow_subnets=[ipaddress.ip_network("127.0.0.0/8")])
    transport = make(guard=guard)
    try:
        result = await transport.send(Request(receiver.base + "/to-metadata", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, Response) and result.status == 307  # the answer, not the metadata service
    assert guard.is_blocked(ipaddress.ip_address("169.254.169.254"))


async def test_retry_after_is_passed_on(receiver: Receiver, make: MakeTransport) -> None:
    transport = make()
    try:
        result = await transport.send(Request(receiver.base + "/busy", b"{}", {}))
    finally:
        await transport.close()
    assert result == Response(429, b"slow down", {"retry-after": "30"})


async def test_response_body_is_bounded(receiver: Receiver, make: MakeTransport) -> None:
    transport = make()
    try:
        result = await transport.send(Request(receiver.base + "/big", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, Response)
    assert result.status == 500
    assert len(result.body) == RESPONSE_BODY_LIMIT


async def test_read_timeout(receiver: Receiver, make: MakeTransport) -> None:
    transport = make(read_timeout=0.2)
    try:
        result = await transport.send(Request(receiver.base + "/sleepy", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.READ_TIMEOUT


async def test_a_request_may_bring_its_own_read_timeout(receiver: Receiver, make: MakeTransport) -> None:
    """A profile's timeout (LiveChat: 10 s) applies to its requests only; the others keep the default."""
    transport = make(read_timeout=60)
    try:
        result = await transport.send(Request(receiver.base + "/sleepy", b"{}", {}, read_timeout=0.2))
        assert isinstance(result, TransportError)
        assert result.kind is ErrorKind.READ_TIMEOUT
        slow = asyncio.create_task(transport.send(Request(receiver.base + "/sleepy", b"{}", {})))
        await asyncio.sleep(0.5)  # longer than the other request's timeout: this one is still waiting
        assert not slow.done()
        receiver.release.set()
        assert isinstance(await slow, Response) and (await slow).status == 200
    finally:
        await transport.close()


async def test_connection_refused(make: MakeTransport) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    transport = make(connect_timeout=2)
    try:
        result = await transport.send(Request(f"http://127.0.0.1:{port}/h", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.REFUSED


async def test_guard_blocks_names_resolving_to_loopback(receiver: Receiver, make: MakeTransport) -> None:
    port = receiver.base.rsplit(":", 1)[1]
    transport = make(guard=AddressGuard())
    try:
        result = await transport.send(Request(f"http://localhost:{port}/hook", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.BLOCKED_TARGET
    assert receiver.received == []


async def test_guard_allow_list_lets_loopback_through(receiver: Receiver, make: MakeTransport) -> None:
    transport = make(guard=AddressGuard(allow_private=True))
    try:
        result = await transport.send(Request(receiver.base + "/hook", b"{}", {}))
    finally:
        await transport.close()
    assert result == Response(200, b"ok", {})
