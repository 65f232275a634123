"""Deliveries through an egress proxy (HERALD_EGRESS_PROXY): fixed egress addresses for receivers to allow,
and one place to audit outgoing traffic.

The address guard still decides where a delivery may go: Herald resolves and vets the destination itself
and asks the proxy for the vetted address, never for a name the proxy would resolve again (no DNS
rebinding through the proxy). HTTPS goes through a CONNECT tunnel to that address with the certificate
checked against the endpoint's host name (mTLS works unchanged inside the tunnel); plain HTTP is sent to
the proxy in absolute form (`POST http://<address>:<port>/path` with the endpoint's `Host`). The proxy's
own address is the operator's choice and is not vetted.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from yarl import URL

from herald.config import ConfigError
from herald.dispatch.guard import AddressGuard, Lookup, system_lookup, vetted_addresses
from herald.domain.urls import CanonicalURL


class ProxyConfigError(ConfigError):
    """HERALD_EGRESS_PROXY is not an http://host:port URL."""


def check_proxy_url(url: str) -> str:
    """The proxy URL as given, or ProxyConfigError with a readable reason."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ProxyConfigError(
            f"HERALD_EGRESS_PROXY must look like http://host:port (an HTTP proxy), got {url!r}"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ProxyConfigError(f"HERALD_EGRESS_PROXY has a bad port: {url!r}") from exc
    return url


def proxy_and_auth(url: str) -> tuple[str, dict[str, str]]:
    """The proxy URL without credentials, and the Proxy-Authorization header its credentials make."""
    parts = urlsplit(check_proxy_url(url))
    if parts.username is None:
        return url, {}
    bare = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, "", ""))
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return bare, {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode()}


def named_proxies(spec: str) -> dict[str, str]:
    """HERALD_EGRESS_PROXIES ("name=http://host:port,…") → {name: url}; ConfigError on a bad entry. Only the
    operator names proxies: a subscription picks one by name, never gives a proxy address itself."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, url = part.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name.strip()):
            raise ProxyConfigError(
                f"HERALD_EGRESS_PROXIES entries look like name=http://host:port, got {part!r}"
            )
        out[name.strip()] = check_proxy_url(url.strip())
    return out


@dataclass(frozen=True, slots=True)
class Pinned:
    """The request rewritten for the proxy: the URL with the vetted address, and what TLS and the receiver
    must still see of the original host."""

    url: str
    host_header: str
    server_hostname: str | None  # https: the name the certificate must match


async def vet_destination(
    guard: AddressGuard | None, host: str, port: int, lookup: Lookup = system_lookup
) -> str:
    """The one call into the address guard on the proxy path: the first address `host` resolves to that
    the guard allows (`guard.vetted_addresses`; raises BlockedTarget when there is none). Without a guard,
    the host itself."""
    if guard is None:
        return host
    return str((await vetted_addresses(guard, host, port, lookup))[0])


async def pin(guard: AddressGuard | None, target: CanonicalURL, lookup: Lookup = system_lookup) -> Pinned:
    """The request for the proxy: the canonical URL with its host replaced by the vetted address."""
    address = await vet_destination(guard, target.host, target.port, lookup)
    literal = f"[{address}]" if _is_ipv6(address) else address
    url = URL(target.text, encoded=True)
    host_header = url.raw_authority  # as the endpoint URL names it (port included if given)
    pinned = f"{target.scheme}://{literal}:{target.port}{url.raw_path_qs or '/'}"
    return Pinned(pinned, host_header, target.host if target.https else None)


def _is_ipv6(address: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address)
    except ValueError:
        return False
