"""Bus URLs: `redis://`, `nats://`, `amqp://` (and their TLS forms). One parser for sources and
destinations, so both accept and mask the same URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from herald.domain.urls import UrlError, canonical_url

# scheme → (bus kind, default port, TLS)
SCHEMES: dict[str, tuple[str, int, bool]] = {
    "redis": ("redis", 6379, False),
    "rediss": ("redis", 6379, True),
    "nats": ("nats", 4222, False),
    "tls": ("nats", 4222, True),
    "amqp": ("amqp", 5672, False),
    "amqps": ("amqp", 5671, True),
    "kafka": ("kafka", 9092, False),  # sources only: kafka://host:port, the bootstrap server
}


class BusURLError(ValueError):
    """The text is not a bus URL Herald can use; the message says why."""


@dataclass(frozen=True, slots=True)
class BusURL:
    scheme: str
    kind: str  # redis | nats | amqp
    host: str
    port: int
    username: str | None
    password: str | None
    path: str  # without the leading slash, percent-decoded
    query: dict[str, str]
    tls: bool

    def server(self) -> str:
        """scheme://[user:password@]host:port, for the client library (no path or query)."""
        return urlunsplit((self.scheme, _netloc(self, self.host), "", "", ""))

    def server_at(self, address: str) -> str:
        """The server URL, connecting to a vetted address instead of the name."""
        return urlunsplit((self.scheme, _netloc(self, address), "", "", ""))


def _netloc(url: BusURL, host: str) -> str:
    hostpart = f"[{host}]" if ":" in host else host
    auth = ""
    if url.username is not None or url.password is not None:
        auth = (url.username or "") + (f":{url.password}" if url.password is not None else "") + "@"
    return f"{auth}{hostpart}:{url.port}"


def is_bus_url(text: str) -> bool:
    return urlsplit(text).scheme.lower() in SCHEMES


def parse_bus_url(text: str, kind: str | None = None) -> BusURL:
    """Parse and check a bus URL; `kind` (redis | nats | amqp) demands that kind."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BusURLError(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BusURLError(f"must be one of {', '.join(s + '://' for s in SCHEMES)}")
    bus, default_port, tls = SCHEMES[scheme]
    if kind is not None and bus != kind:
        wanted = ", ".join(s + "://" for s, (k, _, _) in SCHEMES.items() if k == kind)
        raise BusURLError(f"must be a {wanted} URL")
    if not parts.hostname:
        raise BusURLError("must name a host")
    host = _canonical_host(parts.netloc.rpartition("@")[2], port or default_port)
    if parts.fragment:
        raise BusURLError("must not have a #fragment")
    query: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if len(values) > 1:
            raise BusURLError(f"query parameter {key} is given more than once")
        query[key] = values[0]
    return BusURL(
        scheme=scheme,
        kind=bus,
        host=host,
        port=port or default_port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=unquote(parts.path.lstrip("/")),
        query=query,
        tls=tls,
    )


def _canonical_host(authority: str, port: int) -> str:
    """The host by the same rule as every URL Herald dials (herald.domain.urls, ADR 0009): disguised
    numeric and Unicode forms are refused, never reinterpreted."""
    host = authority.rpartition(":")[0] if not authority.endswith("]") and ":" in authority else authority
    try:
        return canonical_url(f"http://{host}:{port}/").host
    except UrlError as exc:
        raise BusURLError(str(exc)) from None


def mask_password(text: str) -> str:
    """The URL with its password replaced by `***` (answers and logs never show it)."""
    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))
