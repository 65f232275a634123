"""Which bus URLs a subscription may deliver to. Called by the subscription URL check, in one place."""

from __future__ import annotations

from herald.buses.urls import BusURL, BusURLError, parse_bus_url

DEFAULT_MAXLEN = 100_000  # redis: XADD MAXLEN ~ bound, unless the URL says ?maxlen=
ALLOWED_QUERY = {"redis": {"maxlen"}, "nats": set(), "amqp": {"exchange", "routing_key"}}


def check_destination_url(text: str) -> BusURL:
    """A usable destination, or BusURLError saying what is wrong."""
    url = parse_bus_url(text)
    if url.kind not in ALLOWED_QUERY:
        raise BusURLError(f"{url.scheme}:// is a source URL; destinations are redis://, nats:// or amqp://")
    unknown = set(url.query) - ALLOWED_QUERY[url.kind]
    if unknown:
        raise BusURLError(f"unknown query parameter {sorted(unknown)[0]} for a {url.kind} destination")
    if url.kind == "redis":
        if not url.path or "/" in url.path:
            raise BusURLError("must name the stream: redis://host:port/<stream>")
        maxlen = url.query.get("maxlen", str(DEFAULT_MAXLEN))
        if not maxlen.isdigit() or int(maxlen) < 1:
            raise BusURLError("maxlen must be a positive whole number")
    elif url.kind == "nats":
        if not url.path or any(c in url.path for c in " *>/") or url.path.startswith("."):
            raise BusURLError("must name the subject: nats://host:port/<subject> (no wildcards)")
    elif "routing_key" not in url.query:
        raise BusURLError("needs ?routing_key= (and ?exchange=, else the default exchange)")
    return url


def redis_maxlen(url: BusURL) -> int:
    return int(url.query.get("maxlen", str(DEFAULT_MAXLEN)))
