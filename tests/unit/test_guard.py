"""The address guard: internal, special-purpose and metadata addresses are refused unless allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from herald.dispatch.guard import AddressGuard, BlockedTarget, GuardedResolver, embedded_ipv4, parse_subnets

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
    "url",
    [
        "http://127.0.0.1/hook",
        "https://127.0.0.1:8443/hook?x=1",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:8080/",
        "http://[::1]/hook",
        "https://[::1]:8443/hook",
        "http://[::ffff:127.0.0.1]/",
        "http://[::FFFF:A9FE:A9FE]/",
        "http://[fe80::1]/",
        "http://[fd00::1]:9000/x",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_literal_blocked_urls(url: str) -> None:
    assert AddressGuard().literal_blocked(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]:443/hook",
        "https://example.com/hook",  # names are vetted by the resolver, not here
        "http://localhost/hook",
    ],
)
def test_literal_not_blocked_urls(url: str) -> None:
    assert not AddressGuard().literal_blocked(url)


def test_literal_blocked_respects_allow_lists() -> None:
    assert not AddressGuard(allow_private=True).literal_blocked("http://127.0.0.1/h")
    guard = AddressGuard(allow_subnets=parse_subnets("127.0.0.0/8"))
    assert not guard.literal_blocked("http://127.0.0.1:9000/h")
    assert guard.literal_blocked("http://[::1]:9000/h")


class FakeResolver(AbstractResolver):
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.closed = False
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        self.calls.append((host, port))
        return [
            {
                "hostname": host,
                "host": addr,
                "port": port,
                "family": socket.AF_INET6 if ":" in addr else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for addr in self.table[host]
        ]

    async def close(self) -> None:
        self.closed = True


async def test_guarded_resolver_refuses_names_with_only_blocked_addresses() -> None:
    inner = FakeResolver({"evil.example": ["127.0.0.1", "169.254.169.254", "::1"]})
    resolver = GuardedResolver(AddressGuard(), inner)
    with pytest.raises(BlockedTarget) as info:
        await resolver.resolve("evil.example", 443)
    assert isinstance(info.value, OSError)  # aiohttp wraps resolver OSErrors as connector errors
    assert "evil.example" in str(info.value)
    assert inner.calls == [("evil.example", 443)]


async def test_guarded_resolver_filters_mixed_answers() -> None:
    inner = FakeResolver({"mixed.example": ["10.0.0.1", "8.8.8.8", "fd00::1", "2606:4700:4700::1111"]})
    results = await GuardedResolver(AddressGuard(), inner).resolve("mixed.example", 80)
    assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700:4700::1111"]
    assert all(r["port"] == 80 for r in results)


async def test_guarded_resolver_passes_public_answers_and_closes_inner() -> None:
    inner = FakeResolver({"ok.example": ["1.1.1.1"]})
    resolver = GuardedResolver(AddressGuard(), inner)
    assert [r["host"] for r in await resolver.resolve("ok.example")] == ["1.1.1.1"]
    await resolver.close()
    assert inner.closed


async def test_guarded_resolver_allows_allow_listed_subnet() -> None:
    inner = FakeResolver({"internal.example": ["10.9.8.7"]})
    guard = AddressGuard(allow_subnets=parse_subnets("10.9.0.0/16"))
    results = await GuardedResolver(guard, inner).resolve("internal.example", 8080)
    assert [r["host"] for r in results] == ["10.9.8.7"]
