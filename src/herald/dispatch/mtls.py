"""How one delivery's request travels: with the mapped client certificate, through the mTLS forward
gateway, or with the default verified TLS. A mapped endpoint whose certificate cannot be used fails the
attempt with error kind `tls`; it never falls back to plain TLS unless its mapping allows it."""

from __future__ import annotations

import dataclasses
import logging
import ssl
from urllib.parse import quote

from herald.dispatch.tls import MappingCache, TlsContexts, identity_of
from herald.dispatch.transport import Transport
from herald.domain.certificates import WEBHOOKS
from herald.domain.models import Endpoint, ErrorKind, Request, Response, TransportError
from herald.store.mtls import Mapping

log = logging.getLogger("herald.tls")

# Request headers the gateway consumes; the endpoint never sees them.
GATEWAY_HEADERS = ("lp-service-name", "lp-forward-url", "lp-stop-if-certificate-not-found", "authorization")
FORWARD_AUTHORIZATION = (
    "lp-forward-authorization"  # the endpoint's own Authorization, carried past the gateway
)


def gateway_request(
    request: Request, gateway_url: str, token: str, account_id: str, stop_if_not_found: bool
) -> Request:
    """The request re-addressed to a LivePerson-style forward gateway."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in GATEWAY_HEADERS}
    own_auth = next((v for k, v in request.headers.items() if k.lower() == "authorization"), None)
    if own_auth is not None:
        headers[FORWARD_AUTHORIZATION] = own_auth
    headers.update(
        {
            "authorization": f"Bearer {token}",
            "lp-service-name": WEBHOOKS,
            "lp-forward-url": request.url,
            "lp-stop-if-certificate-not-found": "true" if stop_if_not_found else "false",
        }
    )
    url = f"{gateway_url.rstrip('/')}/mtls/account/{quote(account_id, safe='')}"
    return Request(url, request.body, headers, read_timeout=request.read_timeout)


class MtlsRouter:
    def __init__(
        self,
        mappings: MappingCache,
        contexts: TlsContexts,
        gateway_url: str = "",
        gateway_token: str | None = None,
        gateway_transport: Transport | None = None,
    ) -> None:
        self.mappings = mappings
        self.contexts = contexts
        self.gateway_url = gateway_url
        self.gateway_token = gateway_token
        # The gateway is the operator's own service (often on loopback): it gets an unguarded transport.
        self.gateway_transport = gateway_transport

    def invalidate(self) -> None:
        self.mappings.invalidate()

    async def context_for(
        self, account_id: str, service: str, url: str
    ) -> tuple[Mapping | None, ssl.SSLContext | TransportError | None]:
        """The mapping and its context; a TransportError when it is mapped but unusable and may not fall
        back; None (plain verified TLS) when unmapped or when falling back is allowed."""
        try:
            mapping = await self.mappings.get(account_id, service, url)
        except Exception as exc:  # the database is down: retry later rather than send without the cert
            log.warning("loading mTLS mappings failed: %s", exc)
            return None, TransportError(ErrorKind.TLS, "mTLS mappings could not be loaded; will retry")
        if mapping is None:
            return None, None
        try:
            return mapping, self.contexts.for_mapping(mapping)
        except (ssl.SSLError, ValueError, OSError) as exc:
            if mapping.allow_plain_fallback:
                log.warning("mapping %s unusable (%s); plain TLS as its mapping allows", mapping.id, exc)
                return mapping, None
            return mapping, TransportError(
                ErrorKind.TLS, f"the mapped client certificate ({mapping.id}) cannot be used: {exc}"[:500]
            )

    async def send(
        self, transport: Transport, account_id: str, endpoint: Endpoint, request: Request
    ) -> Response | TransportError:
        if endpoint.mtls_via_gateway:
            return await self._via_gateway(account_id, request)
        if not request.url.startswith("https:"):
            return await transport.send(request)
        mapping, tls = await self.context_for(account_id, WEBHOOKS, request.url)
        if isinstance(tls, TransportError):
            return tls
        if tls is None or mapping is None:
            return await transport.send(request)
        return await transport.send(dataclasses.replace(request, tls=tls, identity=identity_of(mapping)))

    async def _via_gateway(self, account_id: str, request: Request) -> Response | TransportError:
        if not self.gateway_url or not self.gateway_token or self.gateway_transport is None:
            return TransportError(
                ErrorKind.TLS,
                "mtls_via_gateway is set but no gateway is configured "
                "(HERALD_MTLS_GATEWAY_URL and HERALD_GATEWAY_TOKEN)",
            )
        try:
            mapping = await self.mappings.get(account_id, WEBHOOKS, request.url)
        except Exception:
            mapping = None
        stop = mapping is not None and not mapping.allow_plain_fallback
        routed = gateway_request(request, self.gateway_url, self.gateway_token, account_id, stop)
        return await self.gateway_transport.send(routed)

    async def close(self) -> None:
        if self.gateway_transport is not None:
            await self.gateway_transport.close()
