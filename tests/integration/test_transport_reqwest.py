"""What only the reqwest transport has to prove: it resolves names itself, connects to the vetted address
and nowhere else, and follows a name that moves to a new address."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from herald.bench.processes import free_port
from herald.dispatch import transport_reqwest
from herald.dispatch.guard import AddressGuard, BlockedTarget
from herald.dispatch.transport_reqwest import ReqwestTransport, pem_certificates
from herald.dispatch.vetting import vetted_addresses
from herald.domain.models import ErrorKind, Request, Response, TransportError

LOOPBACK_ONLY = AddressGuard(allow_subnets=[ipaddress.ip_network("127.0.0.0/8")])


async def _serve(host: str, port: int, name: str) -> web.AppRunner:
    async def hook(request: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


@pytest.fixture
async def two_hosts() -> AsyncIterator[int]:
    """Receivers on 127.0.0.1 and 127.0.0.2, same port, answering with their own name."""
    port = free_port()
    runners = [await _serve("127.0.0.1", port, "one"), await _serve("127.0.0.2", port, "two")]
    try:
        yield port
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_vetted_addresses_drop_what_the_guard_refuses() -> None:
    assert await vetted_addresses(LOOPBACK_ONLY, "localhost", 80) == ["127.0.0.1"]  # ::1 is not allowed
    with pytest.raises(BlockedTarget):
        await vetted_addresses(AddressGuard(), "localhost", 80)


async def test_a_name_is_pinned_to_its_vetted_address_and_followed_when_it_moves(
    two_hosts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.test": ["127.0.0.1"]}
    asked: list[str] = []

    async def resolve(guard: AddressGuard | None, host: str, port: int) -> list[str]:
        asked.append(host)
        return [a for a in answers[host] if guard is None or not guard.is_blocked(ipaddress.ip_address(a))]

    monkeypatch.setattr(transport_reqwest, "vetted_addresses", resolve)
    transport = ReqwestTransport(guard=LOOPBACK_ONLY)
    url = f"http://hooks.test:{two_hosts}/hook"
    try:
        assert await transport.send(Request(url, b"{}", {})) == Response(200, b"one", {})
        answers["hooks.test"] = ["127.0.0.2"]
        # Within the TTL the pinned address is kept (no lookup)...
        assert await transport.send(Request(url, b"{}", {})) == Response(200, b"one", {})
        assert asked == ["hooks.test"]
        # ...after it, the name is resolved again and the new vetted address used.
        monkeypatch.setattr(transport_reqwest, "DNS_TTL", 0.0)
        assert await transport.send(Request(url, b"{}", {})) == Response(200, b"two", {})
        assert len(transport._retired) == 1  # the old client is closed later, not under its requests
    finally:
        await transport.close()
    assert transport._retired == {}  # closed with the transport


async def test_when_the_pinned_address_refuses_the_next_vetted_one_is_used(
    two_hosts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def resolve(guard: AddressGuard | None, host: str, port: int) -> list[str]:
        return ["127.0.0.3", "127.0.0.1"]  # nobody listens on 127.0.0.3

    monkeypatch.setattr(transport_reqwest, "vetted_addresses", resolve)
    transport = ReqwestTransport(guard=LOOPBACK_ONLY)
    url = f"http://hooks.test:{two_hosts}/hook"
    try:
        first = await transport.send(Request(url, b"{}", {}))
        assert isinstance(first, TransportError) and first.kind is ErrorKind.REFUSED
        assert await transport.send(Request(url, b"{}", {})) == Response(200, b"one", {})
    finally:
        await transport.close()


async def test_a_name_resolving_only_to_blocked_addresses_is_refused(two_hosts: int) -> None:
    transport = ReqwestTransport(guard=AddressGuard())
    try:
        result = await transport.send(Request(f"http://localhost:{two_hosts}/hook", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.BLOCKED_TARGET
    assert "localhost resolves only to addresses that are not allowed" in result.message


async def test_an_unknown_name_is_a_dns_error() -> None:
    transport = ReqwestTransport(guard=AddressGuard())
    try:
        result = await transport.send(Request("https://no-such-host.invalid/hook", b"{}", {}))
    finally:
        await transport.close()
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.DNS
    assert "no-such-host.invalid" in result.message


def test_pem_bundles_are_split_per_certificate() -> None:
    one = b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----"
    two = b"-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----"
    assert pem_certificates(b"# comment\n" + one + b"\n\n" + two + b"\n") == [one, two]
