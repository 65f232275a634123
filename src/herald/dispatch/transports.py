"""Choosing the delivery transport by name (HERALD_TRANSPORT): every place that sends deliveries builds
its transport here, so the choice and its settings are made once."""

from __future__ import annotations

from herald.config import ConfigError, Settings
from herald.dispatch.egress import named_proxies
from herald.dispatch.guard import AddressGuard
from herald.dispatch.tls import TlsContexts
from herald.dispatch.transport import AiohttpTransport, Transport
from herald.dispatch.transport_reqwest import ReqwestTransport

TRANSPORTS = ("reqwest", "aiohttp")


def build_transport(settings: Settings, guard: AddressGuard, contexts: TlsContexts) -> Transport:
    """The guarded delivery transport HERALD_TRANSPORT names; ConfigError for an unknown name."""
    name = settings.transport.strip().lower()
    proxied = bool(settings.egress_proxy or settings.egress_proxies)
    if name == "reqwest" and not proxied:
        return ReqwestTransport(
            settings.connect_timeout,
            settings.read_timeout,
            guard,
            ca_file=settings.ca_bundle,
            allow_http=settings.http_allowed,
        )
    if name in TRANSPORTS:
        # An egress proxy is spoken by the aiohttp transport only (docs/egress-proxy.md): it selects it.
        return AiohttpTransport(
            settings.connect_timeout,
            settings.read_timeout,
            guard,
            tls=contexts.default(),
            allow_http=settings.http_allowed,
            proxy=settings.egress_proxy or None,
            proxies=named_proxies(settings.egress_proxies),
        )
    raise ConfigError(f"HERALD_TRANSPORT must be one of {', '.join(TRANSPORTS)}, got {settings.transport!r}")
