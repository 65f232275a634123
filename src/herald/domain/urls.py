"""One canonical form of every URL Herald dials (ADR 0009).

`canonical_url` is the only door: the API calls it at creation, the transport at delivery and the guard
vets the host it returns. The host is read by yarl (the parser aiohttp connects with) and, independently,
from the raw text through IDNA/UTS-46; the two must agree or the URL is refused. Fullwidth digits and
ideographic full stops therefore become what they really are before any decision, and a host that only some
parsers read as an IP address (`127.1`, `2130706433`, `0x7f.0.0.1`, `127.0.0.1.` …) is refused, never
reinterpreted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import idna
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
MAX_LENGTH = 2048
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_HEX = re.compile(r"^0x[0-9a-f]*$")
# Categories that must never appear in a URL: controls, format characters (zero-width joiners, BOM,
# bidi overrides), separators (spaces of every width, line and paragraph separators), unassigned.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}


class UrlError(ValueError):
    """The URL is not one Herald will dial; the message says why, for a person."""


@dataclass(frozen=True, slots=True)
class CanonicalURL:
    text: str  # what is stored and what the transport requests, exactly
    scheme: str
    host: str  # ASCII: a lower-case name, or an IP address in its canonical text (no brackets)
    port: int  # the explicit port, or the scheme's default
    ip: IPAddress | None  # the host when it is an IP address literal

    @property
    def https(self) -> bool:
        return self.scheme == "https"


def canonical_text(text: str) -> str:
    return canonical_url(text).text


@lru_cache(maxsize=8192)
def canonical_url(text: str) -> CanonicalURL:
    """The canonical form of `text`, or `UrlError` saying what is wrong with it."""
    if len(text) > MAX_LENGTH:
        raise UrlError(f"must be at most {MAX_LENGTH} characters")
    _check_characters(text)
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise UrlError("must be an absolute http:// or https:// URL")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise UrlError("must not carry credentials (user@host); use a credential instead")
    raw_host, port = _split_authority(authority)
    try:
        url = URL(text)
    except ValueError as exc:
        raise UrlError(f"is not a valid URL ({exc})") from None
    if url.raw_fragment or "#" in rest:
        raise UrlError("must not have a #fragment")
    host, ip = _canonical_host(raw_host)
    if url.raw_host != host or url.raw_user is not None or url.raw_password is not None:
        # yarl (what the HTTP client connects with) read the host differently: trust neither.
        raise UrlError(f"the host {raw_host!r} is read differently by different URL parsers")
    if url.explicit_port not in (None, port):
        raise UrlError("the port is read differently by different URL parsers")
    canonical = str(url.with_fragment(None))
    return CanonicalURL(canonical, scheme, host, port or (443 if scheme == "https" else 80), ip)


def _check_characters(text: str) -> None:
    for i, ch in enumerate(text):
        if ch.isspace() or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            where = f"U+{ord(ch):04X}, character {i + 1}"
            raise UrlError(f"must not contain spaces or control characters ({where})")
        if ch == "\\":
            raise UrlError("must not contain a backslash (URL parsers disagree on what it means)")


def _split_authority(authority: str) -> tuple[str, int | None]:
    """(host text, port) from `host[:port]`, the port written only with ASCII digits, 1 to 65535."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise UrlError("the IPv6 address has no closing ]")
        host, tail = authority[: end + 1], authority[end + 1 :]
        if tail and not tail.startswith(":"):
            raise UrlError("unexpected text after the IPv6 address")
        port_text = tail[1:] if tail else None
    else:
        host, colon, port_text_ = authority.partition(":")
        port_text = port_text_ if colon else None
    if not host:
        raise UrlError("must name a host")
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise UrlError(f"the port {port_text!r} must be a number from 1 to 65535")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UrlError(f"the port {port} must be a number from 1 to 65535")
    return host, port


def _canonical_host(raw: str) -> tuple[str, IPAddress | None]:
    if raw.startswith("["):
        inner = raw[1:-1]
        if "%" in inner:
            raise UrlError("a scoped IPv6 address (with a %zone) is not allowed")
        try:
            ip6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise UrlError(f"{raw} is not an IPv6 address") from None
        return ip6.compressed, ip6
    if "%" in raw:
        raise UrlError("the host must not be percent-encoded")
    try:
        mapped = idna.uts46_remap(raw, std3_rules=False, transitional=False)
    except idna.IDNAError as exc:
        raise UrlError(f"the host {raw!r} is not a valid name ({exc})") from None
    if _ends_in_number(mapped):
        return _canonical_ipv4(raw, mapped)
    return _canonical_name(raw, mapped), None


def _ends_in_number(host: str) -> bool:
    """WHATWG's rule: a host whose last label (one trailing dot ignored) is a number is an IPv4 address to
    browsers and many HTTP clients, whatever else it looks like."""
    last = host.removesuffix(".").rpartition(".")[2]
    return bool(last) and (last.isdigit() or bool(_HEX.match(last)))


def _canonical_ipv4(raw: str, mapped: str) -> tuple[str, IPAddress]:
    parts = mapped.split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() and str(int(p)) == p for p in parts):
        try:
            ip4 = ipaddress.IPv4Address(mapped)
        except ValueError:
            raise UrlError(f"the host {raw!r} is not an IPv4 address (each part is 0 to 255)") from None
        return str(ip4), ip4
    hint = ""
    with contextlib.suppress(OSError):
        hint = f" (some parsers read it as {socket.inet_ntoa(socket.inet_aton(mapped))})"
    raise UrlError(
        f"the host {raw!r} is not a canonical IPv4 address{hint}; write addresses as four decimal numbers"
    )


def _canonical_name(raw: str, mapped: str) -> str:
    if not mapped.isascii():
        try:
            mapped = idna.encode(mapped, uts46=False).decode("ascii")
        except idna.IDNAError as exc:
            raise UrlError(f"the host {raw!r} is not a valid name ({exc})") from None
    name = mapped.removesuffix(".")
    if len(name) > 253:
        raise UrlError("the host name is longer than 253 characters")
    for label in name.split("."):
        if not _LABEL.match(label):
            raise UrlError(f"the host {raw!r} is not a valid name (label {label[:70]!r})")
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError as exc:
                raise UrlError(f"the host {raw!r} is not a valid name ({exc})") from None
    return mapped
