"""The address guard: internal, special-purpose and metadata addresses are refused unless allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from herald.dispatch.guard import (
    AddressGuard,
    BlockedTarget,
    GuardedResolver,
    IPAddress,
    Lookup,
    admit,
    embedded_ipv4,
    guarded_socket,
    parse_subnets,
    vetted_addresses,
)

HOSTILE = [
    "127.0.0.1",  # loopback
    "127.255.255.254",
    "10.0.0.1",  # RFC 1918
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.0.1",
    "192.168.255.255",
    "169.254.169.254",  # link-local / cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT shared space
    "100.127.255.254",
    "0.0.0.0",  # unspecified
    "0.1.2.3",  # "this network"
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "255.255.255.255",  # broadcast
    "240.0.0.1",  # reserved
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.1",  # documentation TEST-NET-1..3
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",  # benchmarking
    "198.19.255.254",
    "::1",  # IPv6 loopback
    "::",  # IPv6 unspecified
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd00::1",
    "fd12:3456:789a::1",
    "fec0::1",  # site-local (deprecated, but still private address space)
    "ff02::1",  # multicast
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:0.0.0.0",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2002:7f00:0001::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
    "::127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # mapped public stays public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:0808:0808::1",  # 6to4 of 8.8.8.8
]


def test_table_is_large_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("address", HOSTILE)
def test_hostile_addresses_blocked(address: str) -> None:
    assert AddressGuard().is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_allowed(address: str) -> None:
    assert not AddressGuard().is_blocked(ipaddress.ip_address(address))


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:1.2.3.4")) == ipaddress.IPv4Address("1.2.3.4")
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::")) == ipaddress.IPv4Address("127.0.0.1")
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a9fe:a9fe")) == ipaddress.IPv4Address(
        "169.254.169.254"
    )
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700:4700::1111")) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1"])
def test_allow_private_lets_everything_through(address: str) -> None:
    assert not AddressGuard(allow_private=True).is_blocked(ipaddress.ip_address(address))


def test_allow_subnets_is_narrow() -> None:
    guard = AddressGuard(allow_subnets=parse_subnets("10.0.0.0/8, fd00::/8"))
    assert not guard.is_blocked(ipaddress.ip_address("10.1.2.3"))
    assert not guard.is_blocked(ipaddress.ip_address("::ffff:10.1.2.3"))  # the same host, mapped
    assert not guard.is_blocked(ipaddress.ip_address("fd00::5"))
    assert guard.is_blocked(ipaddress.ip_address("192.168.1.1"))
    assert guard.is_blocked(ipaddress.ip_address("127.0.0.1"))
    assert guard.is_blocked(ipaddress.ip_address("169.254.169.254"))
    assert guard.is_blocked(ipaddress.ip_address("fc00::1"))


def test_parse_subnets() -> None:
    nets = parse_subnets(" 10.1.2.3/8 ,fd00::/8,, ")
    assert nets == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert parse_subnets("") == []
    with pytest.raises(ValueError):
        parse_subnets("not-a-net")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/hook", "the address 127.0.0.1 is not allowed (loopback)"),
        ("https://127.0.0.1:8443/hook?x=1", "the address 127.0.0.1 is not allowed (loopback)"),
        ("http://10.0.0.5/", "the address 10.0.0.5 is not allowed (private)"),
        ("http://169.254.169.254/latest/", "the address 169.254.169.254 is not allowed (link-local)"),
        ("http://0.0.0.0:8080/", "the address 0.0.0.0 is not allowed (unspecified)"),
        ("http://[::1]/hook", "the address ::1 is not allowed (loopback)"),
        ("http://[::ffff:127.0.0.1]/", "the address ::ffff:7f00:1 is not allowed (loopback, as 127.0.0.1)"),
        (
            "http://[::FFFF:A9FE:A9FE]/",
            "the address ::ffff:a9fe:a9fe is not allowed (link-local, as 169.254.169.254)",
        ),
        ("http://[fe80::1]/", "the address fe80::1 is not allowed (link-local)"),
        ("http://[fd00::1]:9000/x", "the address fd00::1 is not allowed (unique local)"),
        ("http://[2002:7f00:1::]/", "the address 2002:7f00:1:: is not allowed (loopback, as 127.0.0.1)"),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "the address 64:ff9b::a9fe:a9fe is not allowed (link-local, as 169.254.169.254)",
        ),
        ("http://１２７.０.０.１:9/", "the address 127.0.0.1 is not allowed (loopback)"),  # noqa: RUF001
        ("http://169。254。169。254/", "the address 169.254.169.254 is not allowed (link-local)"),
        ("http://127.1/", "the URL is not allowed: the host '127.1' is not a canonical IPv4 address"),
        ("http://2130706433/", "the URL is not allowed: the host '2130706433' is not a canonical IPv4"),
        ("ftp://example.com/", "the URL is not allowed: must be an absolute http:// or https:// URL"),
    ],
)
def test_admit_refuses_literals_and_non_canonical_urls(url: str, message: str) -> None:
    with pytest.raises(BlockedTarget) as info:
        admit(url, AddressGuard())
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]:8443/hook",
        "https://example.com/hook",  # names are vetted when resolved, not here
        "http://localhost/hook",
    ],
)
def test_admit_passes_public_literals_and_names(url: str) -> None:
    assert admit(url, AddressGuard()).text == url


def test_admit_plain_http_only_when_allowed() -> None:
    with pytest.raises(BlockedTarget, match="HERALD_ALLOW_HTTP"):
        admit("http://example.com/", AddressGuard(), allow_http=False)
    assert admit("https://example.com/", AddressGuard(), allow_http=False).https


def test_admit_respects_allow_lists() -> None:
    assert admit("http://127.0.0.1/h", AddressGuard(allow_private=True)).ip is not None
    guard = AddressGuard(allow_subnets=parse_subnets("127.0.0.1/32"))
    assert admit("http://127.0.0.1:9000/h", guard).host == "127.0.0.1"
    for refused in ("http://127.0.0.2:9000/h", "http://[::1]:9000/h", "http://[::ffff:127.0.0.2]/"):
        with pytest.raises(BlockedTarget):
            admit(refused, guard)


def lookup_of(table: dict[str, list[str]], calls: list[str] | None = None) -> Lookup:
    async def lookup(host: str, port: int, family: int) -> list[IPAddress]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]

    return lookup


async def test_vetted_addresses_refuses_names_with_only_blocked_addresses() -> None:
    lookup = lookup_of({"evil.example": ["127.0.0.1", "169.254.169.254", "::1"]})
    with pytest.raises(BlockedTarget) as info:
        await vetted_addresses(AddressGuard(), "evil.example", 443, lookup)
    assert isinstance(info.value, OSError)  # aiohttp wraps resolver OSErrors as connector errors
    assert str(info.value) == (
        "evil.example resolves only to addresses that are not allowed: 127.0.0.1 (loopback), "
        "169.254.169.254 (link-local), ::1 (loopback)"
    )


async def test_vetted_addresses_keeps_only_allowed_answers() -> None:
    lookup = lookup_of({"mixed.example": ["10.0.0.1", "8.8.8.8", "fd00::1", "2606:4700:4700::1111"]})
    found = await vetted_addresses(AddressGuard(), "mixed.example", 80, lookup)
    assert [str(a) for a in found] == ["8.8.8.8", "2606:4700:4700::1111"]


async def test_vetted_addresses_vets_literals_without_a_lookup() -> None:
    calls: list[str] = []
    lookup = lookup_of({}, calls)
    assert [str(a) for a in await vetted_addresses(AddressGuard(), "1.1.1.1", 80, lookup)] == ["1.1.1.1"]
    with pytest.raises(BlockedTarget, match=r"^the address fe80::1 is not allowed \(link-local\)$"):
        await vetted_addresses(AddressGuard(), "fe80::1", 80, lookup)
    assert calls == []


async def test_vetted_addresses_passes_dns_failures_through() -> None:
    with pytest.raises(socket.gaierror):
        await vetted_addresses(AddressGuard(), "nowhere.invalid", 80, lookup_of({}))


async def test_guarded_resolver_answers_vetted_addresses_for_aiohttp() -> None:
    guard = AddressGuard(allow_subnets=parse_subnets("10.9.0.0/16"))
    resolver = GuardedResolver(guard, lookup_of({"internal.example": ["10.9.8.7", "10.8.0.1"]}))
    results = await resolver.resolve("internal.example", 8080)
    assert [(r["hostname"], r["host"], r["port"], r["family"]) for r in results] == [
        ("internal.example", "10.9.8.7", 8080, socket.AF_INET)
    ]
    with pytest.raises(BlockedTarget):
        await GuardedResolver(AddressGuard(), lookup_of({"x.example": ["10.9.8.7"]})).resolve("x.example")


@pytest.mark.parametrize(
    ("family", "sockaddr"),
    [
        (socket.AF_INET, ("127.0.0.1", 80)),
        (socket.AF_INET, ("169.254.169.254", 80)),
        (socket.AF_INET6, ("::1", 80, 0, 0)),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0)),
        (socket.AF_INET6, ("2606:4700:4700::1111", 80, 0, 2)),  # scoped: never
    ],
)
def test_guarded_socket_refuses_before_any_socket_exists(family: int, sockaddr: tuple[Any, ...]) -> None:
    make = guarded_socket(AddressGuard())
    with pytest.raises(BlockedTarget):
        make((family, socket.SOCK_STREAM, 6, "", sockaddr))


def test_guarded_socket_makes_a_socket_for_an_allowed_address() -> None:
    sock = guarded_socket(AddressGuard())((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 443)))
    with sock:
        assert sock.family == socket.AF_INET
        assert not sock.getblocking()
