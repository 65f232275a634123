"""The address guard: never deliver to private, loopback, link-local or otherwise internal addresses.

Names are resolved by `GuardedResolver`, which drops blocked addresses so aiohttp connects only to an
address that was vetted (no DNS rebinding between check and connect). Literal IPs skip resolvers, so
`check_url` vets them directly.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Ranges Python's `is_global` lets through that are still not the public internet: CGNAT, IETF protocol
# assignments, benchmarking, and IPv6 site-local (deprecated, still private).
_EXTRA_BLOCKED = [
    ipaddress.ip_network(n) for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "fec0::/10")
]


class BlockedTarget(OSError):
    """The endpoint resolves only to addresses Herald will not connect to."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo:
        return ip.teredo[1]
    return None


class AddressGuard:
    def __init__(self, allow_private: bool = False, allow_subnets: list[Network] | None = None) -> None:
        self.allow_private = allow_private
        self.allow_subnets = allow_subnets or []

    def is_blocked(self, ip: IPAddress) -> bool:
        if self.allow_private or any(ip in net for net in self.allow_subnets if ip.version == net.version):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            return self.is_blocked(inner)
        return (
            not ip.is_global
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
            or any(ip in net for net in _EXTRA_BLOCKED if ip.version == net.version)
        )

    def literal_blocked(self, url: str) -> bool:
        """True when the URL's host is a literal IP address the guard refuses."""
        return _literal_blocked(self, url)


@lru_cache(maxsize=4096)
def _literal_blocked(guard: AddressGuard, url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return guard.is_blocked(ip)


def parse_subnets(spec: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


class GuardedResolver(AbstractResolver):
    def __init__(self, guard: AddressGuard, inner: AbstractResolver | None = None) -> None:
        self.guard = guard
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        allowed = [r for r in results if not self.guard.is_blocked(ipaddress.ip_address(r["host"]))]
        if not allowed:
            raise BlockedTarget(f"{host} resolves only to blocked addresses")
        return allowed

    async def close(self) -> None:
        await self.inner.close()
