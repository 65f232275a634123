"""The guard decides on the address the transport actually connects to: real loopback listeners, a
resolver stub playing a rebinding DNS server, and a trap that must never see a connection."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from herald.dispatch.guard import AddressGuard, BlockedTarget, IPAddress, Lookup, parse_subnets
from herald.dispatch.transport import AiohttpTransport
from herald.domain.models import ErrorKind, Request, Response, TransportError

ALLOWED = "127.0.0.2"  # the one allow-listed loopback address; the trap listens on 127.0.0.1
GUARD = AddressGuard(allow_subnets=parse_subnets(f"{ALLOWED}/32"))


class Trap:
    def __init__(self, port: int) -> None:
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.setblocking(False)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self.sock)
            self.connections += 1
            conn.close()


@pytest.fixture
async def legit() -> AsyncIterator[tuple[int, list[str]]]:
    """An HTTP receiver on 127.0.0.2:P; its port P is free on 127.0.0.1 too, for the trap."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.host)
        return web.Response(status=200, text="legit")

    app = web.Application()
    app.router.add_post("/hook", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, ALLOWED, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def trap(legit: tuple[int, list[str]]) -> AsyncIterator[Trap]:
    t = Trap(legit[0])
    task = asyncio.create_task(t.serve())
    try:
        yield t
    finally:
        task.cancel()
        t.sock.close()


def answers(*rounds: list[str]) -> tuple[Lookup, list[str]]:
    """A DNS stub: the n-th lookup gets the n-th answer (the last one from then on)."""
    calls: list[str] = []

    async def lookup(host: str, port: int, family: int) -> list[IPAddress]:
        calls.append(host)
        answer = rounds[min(len(calls), len(rounds)) - 1]
        return [ipaddress.ip_address(a) for a in answer]

    return lookup, calls


async def send(url: str, lookup: Lookup, guard: AddressGuard = GUARD) -> Response | TransportError:
    transport = AiohttpTransport(connect_timeout=2, guard=guard, lookup=lookup)
    try:
        return await transport.send(Request(url, b"{}", {"content-type": "application/json"}))
    finally:
        await transport.close()


async def test_a_name_is_connected_only_to_its_vetted_address(
    legit: tuple[int, list[str]], trap: Trap
) -> None:
    """The name resolves to the trap (first, preferred) and to the allowed address: only the allowed one
    is dialled, with the name kept in the Host header."""
    port, seen = legit
    lookup, calls = answers(["127.0.0.1", ALLOWED])
    result = await send(f"http://hooks.test:{port}/hook", lookup)
    assert result == Response(200, b"legit", {})
    assert seen == [f"hooks.test:{port}"]
    assert calls == ["hooks.test"]
    assert trap.connections == 0


async def test_dns_rebinding_cannot_redirect_a_vetted_connection(
    legit: tuple[int, list[str]], trap: Trap
) -> None:
    """A rebinding server answers an allowed address once and loopback afterwards. The first delivery
    connects to the address that was vetted (one lookup, pinned: no second question whose answer could
    differ); the next delivery, after the cache, gets loopback and is refused as blocked_target."""
    port, seen = legit
    lookup, calls = answers([ALLOWED], ["127.0.0.1"])
    first = await send(f"http://rebind.test:{port}/hook", lookup)
    assert first == Response(200, b"legit", {})
    assert calls == ["rebind.test"]
    second = await send(f"http://rebind.test:{port}/hook", lookup)
    assert second == TransportError(
        ErrorKind.BLOCKED_TARGET,
        "rebind.test resolves only to addresses that are not allowed: 127.0.0.1 (loopback)",
    )
    assert calls == ["rebind.test", "rebind.test"]
    assert seen == [f"rebind.test:{port}"]
    assert trap.connections == 0


LOOPBACK = "the address 127.0.0.1 is not allowed (loopback)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{p}/hook", LOOPBACK),
        ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{p}/hook", LOOPBACK),  # fullwidth digits
        ("http://127\u30020\u30020\u30021:{p}/hook", LOOPBACK),  # ideographic full stops
        ("http://[::ffff:127.0.0.1]:{p}/hook", "the address ::ffff:7f00:1 is not allowed (loopback, as 127."),
        ("http://127.1:{p}/hook", "the URL is not allowed: the host '127.1' is not a canonical IPv4 address"),
        ("http://2130706433:{p}/hook", "the URL is not allowed: the host '2130706433' is not a canonical"),
    ],
)  # fmt: skip
async def test_literal_and_disguised_addresses_are_blocked_targets(
    legit: tuple[int, list[str]], trap: Trap, url: str, message: str
) -> None:
    lookup, calls = answers([ALLOWED])
    result = await send(url.format(p=legit[0]), lookup)
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.BLOCKED_TARGET
    assert result.message.startswith(message)
    assert calls == []
    assert trap.connections == 0


async def test_an_allowed_literal_is_delivered(legit: tuple[int, list[str]], trap: Trap) -> None:
    lookup, _ = answers([])
    assert await send(f"http://{ALLOWED}:{legit[0]}/hook", lookup) == Response(200, b"legit", {})
    assert trap.connections == 0


async def test_the_socket_factory_refuses_whatever_the_client_decided(
    legit: tuple[int, list[str]], trap: Trap
) -> None:
    """The last line: a request that skipped `admit` (here: straight through the transport's session, as an
    HTTP client's own heuristics might) still cannot open a socket to a refused address."""
    transport = AiohttpTransport(connect_timeout=2, guard=GUARD)
    session = transport._open()
    try:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await session.post(f"http://127.0.0.1:{legit[0]}/hook", data=b"{}")
        assert isinstance(info.value.os_error, BlockedTarget)
        assert str(info.value.os_error) == "the address 127.0.0.1 is not allowed (loopback)"
        async with session.post(f"http://{ALLOWED}:{legit[0]}/hook", data=b"{}") as resp:
            assert resp.status == 200
    finally:
        await session.close()
    assert trap.connections == 0
