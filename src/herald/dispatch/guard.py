"""The address guard: never connect to private, loopback, link-local or otherwise internal addresses.

One rule (`AddressGuard.refusal`) decides on an IP address; every transport asks it through
`vetted_addresses(guard, host, port)` with the host of the canonical URL (`herald.domain.urls`): an address
literal is vetted directly, a name is resolved here and only its allowed addresses are returned, so the
transport connects to exactly those (pinned: no second lookup an attacker's DNS could answer differently).
`AiohttpTransport` uses `GuardedResolver` for names and `guarded_socket` as a last check on the address each
socket is about to connect to, whatever aiohttp decided about the host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult

from herald.domain.urls import CanonicalURL, UrlError, canonical_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port, family) → the addresses the name has; raises OSError (socket.gaierror) when it has none.
Lookup = Callable[[str, int, int], Awaitable[list[IPAddress]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Named ranges first: the reason a person reads ("the address … is not allowed (link-local)").
_REASONS: list[tuple[str, list[Network]]] = [
    ("unspecified", [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "::/128")]),
    ("loopback", [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128")]),
    ("link-local", [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10")]),
    ("private", [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]),
    ("unique local", [ipaddress.ip_network("fc00::/7")]),
    ("shared address space (CGNAT)", [ipaddress.ip_network("100.64.0.0/10")]),
    ("broadcast", [ipaddress.ip_network("255.255.255.255/32")]),
    ("multicast", [ipaddress.ip_network(n) for n in ("224.0.0.0/4", "ff00::/8")]),
    ("reserved", [ipaddress.ip_network(n) for n in ("240.0.0.0/4", "fec0::/10")]),
    (
        "special-purpose",  # IETF assignments, documentation, benchmarking, discard-only
        [
            ipaddress.ip_network(n)
            for n in (
                "192.0.0.0/24",
                "192.0.2.0/24",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "198.18.0.0/15",
                "2001:db8::/32",
                "100::/64",
                "64:ff9b:1::/48",
            )
        ],
    ),
]


class BlockedTarget(OSError):
    """Herald will not connect to this target; the message says which and why, for a person."""


class AddressRefused(BlockedTarget):
    """An address the guard refuses (an allow-list could let it through)."""


class PlainHttpRefused(BlockedTarget):
    """A plain http:// URL where only https:// is allowed."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (mapped, compatible, 6to4, NAT64, Teredo)."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo:
        return ip.teredo[1]
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d, IPv4-compatible (deprecated)
        return ipaddress.IPv4Address(int(ip))
    return None


class AddressGuard:
    def __init__(self, allow_private: bool = False, allow_subnets: list[Network] | None = None) -> None:
        self.allow_private = allow_private
        self.allow_subnets = allow_subnets or []
        # Decisions per address: the table walk costs ~150 µs (ipaddress), a delivery's whole CPU budget.
        self._decided: dict[IPAddress, str | None] = {}

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` is refused ("loopback", "link-local" …), or None when Herald may connect to it."""
        try:
            return self._decided[ip]
        except KeyError:
            pass
        if len(self._decided) >= 4096:
            self._decided.clear()
        reason = self._decided[ip] = self._decide(ip)
        return reason

    def _decide(self, ip: IPAddress) -> str | None:
        if self.allow_private or any(ip in net for net in self.allow_subnets if ip.version == net.version):
            return None
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.scope_id:
                return "scoped"
            if (inner := embedded_ipv4(ip)) is not None:
                reason = self.refusal(inner)
                return None if reason is None else f"{reason}, as {inner}"
        for reason, nets in _REASONS:
            if any(ip in net for net in nets if ip.version == net.version):
                return reason
        if not ip.is_global or ip.is_reserved:
            return "not a public address"
        return None

    def is_blocked(self, ip: IPAddress) -> bool:
        return self.refusal(ip) is not None

    def check(self, ip: IPAddress) -> IPAddress:
        """`ip` itself, or `BlockedTarget` saying why not."""
        if (reason := self.refusal(ip)) is not None:
            raise AddressRefused(f"the address {ip} is not allowed ({reason})")
        return ip


def parse_subnets(spec: str) -> list[Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


def literal(host: str) -> IPAddress | None:
    """The address when `host` (canonical: no brackets) is an IP literal."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def system_lookup(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )
    return list(dict.fromkeys(_sockaddr_ip(info[4]) for info in infos))


def _sockaddr_ip(sockaddr: Any) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])


async def vetted_addresses(
    guard: AddressGuard,
    host: str,
    port: int,
    lookup: Lookup = system_lookup,
    family: int = socket.AF_UNSPEC,
) -> list[IPAddress]:
    """The addresses of a canonical host Herald may connect to: connect to these and nothing else.
    Raises `BlockedTarget` when there are none, `OSError` (socket.gaierror) when the name has none."""
    ip = literal(host)
    if ip is not None:
        return [guard.check(ip)]
    found = await lookup(host, port, family)
    allowed = [a for a in found if not guard.is_blocked(a)]
    if not allowed:
        refused = ", ".join(f"{a} ({guard.refusal(a)})" for a in found[:4])
        raise AddressRefused(f"{host} resolves only to addresses that are not allowed: {refused}")
    return allowed


def admit(url: str, guard: AddressGuard | None, allow_http: bool = True) -> CanonicalURL:
    """What every transport does before connecting: the URL's canonical form (one that is not canonical is
    refused, never reinterpreted), plain http only where allowed, an address literal vetted. Raises
    `BlockedTarget`; names are vetted when they are resolved (`vetted_addresses`)."""
    try:
        target = canonical_url(url)
    except UrlError as exc:
        raise BlockedTarget(f"the URL is not allowed: {exc}") from None
    if not target.https and not allow_http:
        raise PlainHttpRefused("plain http:// is not allowed (HERALD_ALLOW_HTTP)")
    if guard is not None and target.ip is not None:
        guard.check(target.ip)
    return target


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: names resolved and vetted by `vetted_addresses`, so aiohttp connects only to
    vetted addresses (and caches only those)."""

    def __init__(self, guard: AddressGuard, lookup: Lookup = system_lookup) -> None:
        self.guard = guard
        self.lookup = lookup

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        addresses = await vetted_addresses(self.guard, host, port, self.lookup, int(family))
        return [
            {
                "hostname": host,
                "host": str(a),
                "port": port,
                "family": socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in addresses
        ]

    async def close(self) -> None:
        return None


def guarded_socket(guard: AddressGuard) -> Callable[[AddrInfoType], socket.socket]:
    """aiohttp's `socket_factory`: the last word, on the address each socket is about to connect to (an
    address literal never reaches a resolver, and an HTTP client may have heuristics of its own)."""

    def make(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        guard.check(_sockaddr_ip(sockaddr))
        if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3]:
            raise AddressRefused(f"the address {sockaddr[0]} is not allowed (scoped)")
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setblocking(False)
        return sock

    return make
