"""How a delivery travels with mTLS: the mapped certificate, the forward gateway, or (only when the
mapping allows it) plain verified TLS. A mapped endpoint whose certificate cannot be used fails: `tls`."""

from __future__ import annotations

import dataclasses
import ssl
import time

import pytest
import trustme

from herald.config import load_settings
from herald.dispatch.mtls import MtlsRouter, gateway_request
from herald.dispatch.tls import MappingCache, TlsContexts, verified_context
from herald.dispatch.transport import AiohttpTransport, MemoryTransport, gateway_failure
from herald.domain.models import Endpoint, ErrorKind, Request, Response, TransportError
from herald.store.mtls import Mapping

URL = "https://hooks.example.com/in?tenant=1"


class StaticMappings(MappingCache):
    def __init__(self, *mappings: Mapping) -> None:
        self.by_key = {(m.account_id, m.service, m.url): m for m in mappings}
        self.invalidated = 0

    async def get(self, account_id: str, service: str, url: str) -> Mapping | None:
        return self.by_key.get((account_id, service, url))

    def invalidate(self) -> None:
        self.invalidated += 1


def mapping(ca: trustme.CA, *, key: str | None = None, fallback: bool = False, url: str = URL) -> Mapping:
    leaf = ca.issue_cert("client.example.com")
    return Mapping(
        id="mtls_1",
        account_id="a1",
        service="WEBHOOKS",
        url=url,
        certificate=leaf.cert_chain_pems[0].bytes().decode(),
        private_key=key or leaf.private_key_pem.bytes().decode(),
        ca_bundle=ca.cert_pem.bytes().decode(),
        allow_plain_fallback=fallback,
        not_after=time.time() + 3600,
        updated_at=1.0,
    )


def endpoint(url: str = URL, via_gateway: bool = False) -> Endpoint:
    return Endpoint("sub_1", url, "standard", "whsec_x", None, mtls_via_gateway=via_gateway)


async def ok(_: Request) -> Response:
    return Response(200, b"ok")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_verified_context_refuses_below_tls_1_2() -> None:
    ctx = verified_context()
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


async def test_mapped_endpoint_presents_its_certificate(ca: trustme.CA) -> None:
    router = MtlsRouter(StaticMappings(mapping(ca)), TlsContexts())
    transport = MemoryTransport(ok)
    assert await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {})) == Response(200, b"ok")
    [sent] = transport.requests
    assert isinstance(sent.tls, ssl.SSLContext) and sent.tls.minimum_version is ssl.TLSVersion.TLSv1_2
    # Same mapping version: the same context (aiohttp pools connections per context).
    await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {}))
    assert transport.requests[1].tls is sent.tls


async def test_mapped_endpoint_carries_the_same_material_as_pem(ca: trustme.CA) -> None:
    """PEM-taking transports (reqwest) get the mapping's material beside the context, keyed by version."""
    first = mapping(ca)
    router = MtlsRouter(StaticMappings(first), TlsContexts())
    transport = MemoryTransport(ok)
    await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {}))
    identity = transport.requests[0].identity
    assert identity is not None
    assert (identity.certificate, identity.private_key, identity.ca_bundle) == (
        first.certificate,
        first.private_key,
        first.ca_bundle,
    )
    newer = dataclasses.replace(first, updated_at=2.0)
    router = MtlsRouter(StaticMappings(newer), TlsContexts())
    await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {}))
    assert transport.requests[1].identity is not None
    assert transport.requests[1].identity.key != identity.key  # a new version: a new client


async def test_unmapped_endpoint_or_other_account_goes_plain(ca: trustme.CA) -> None:
    router = MtlsRouter(StaticMappings(mapping(ca)), TlsContexts())
    transport = MemoryTransport(ok)
    await router.send(transport, "a2", endpoint(), Request(URL, b"{}", {}))
    await router.send(transport, "a1", endpoint(URL + "&x"), Request(URL + "&x", b"{}", {}))
    assert [r.tls for r in transport.requests] == [None, None]


async def test_unusable_certificate_fails_with_tls_and_sends_nothing(ca: trustme.CA) -> None:
    other_key = ca.issue_cert("other.example.com").private_key_pem.bytes().decode()
    router = MtlsRouter(StaticMappings(mapping(ca, key=other_key)), TlsContexts())
    transport = MemoryTransport(ok)
    result = await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {}))
    assert isinstance(result, TransportError) and result.kind is ErrorKind.TLS
    assert "mtls_1" in result.message
    assert transport.requests == []


async def test_unusable_certificate_falls_back_only_when_the_mapping_says_so(ca: trustme.CA) -> None:
    other_key = ca.issue_cert("other.example.com").private_key_pem.bytes().decode()
    router = MtlsRouter(StaticMappings(mapping(ca, key=other_key, fallback=True)), TlsContexts())
    transport = MemoryTransport(ok)
    assert await router.send(transport, "a1", endpoint(), Request(URL, b"{}", {})) == Response(200, b"ok")
    assert transport.requests[0].tls is None
    assert transport.requests[0].identity is None


async def test_gateway_not_configured_is_a_tls_failure(ca: trustme.CA) -> None:
    router = MtlsRouter(StaticMappings(), TlsContexts())
    result = await router.send(MemoryTransport(ok), "a1", endpoint(via_gateway=True), Request(URL, b"{}", {}))
    assert isinstance(result, TransportError) and result.kind is ErrorKind.TLS
    assert "HERALD_MTLS_GATEWAY_URL" in result.message


async def test_gateway_routing_speaks_liveperson_headers(ca: trustme.CA) -> None:
    gateway = MemoryTransport(ok)
    direct = MemoryTransport(ok)
    router = MtlsRouter(
        StaticMappings(mapping(ca)), TlsContexts(), "http://gw.internal:8090/", "gw-token", gateway
    )
    request = Request(URL, b'{"a":1}', {"webhook-id": "d1", "Authorization": "Bearer endpoint-token"})
    assert await router.send(direct, "acct/1", endpoint(via_gateway=True), request) == Response(200, b"ok")
    assert direct.requests == []
    [sent] = gateway.requests
    assert sent.url == "http://gw.internal:8090/mtls/account/acct%2F1"
    assert sent.body == b'{"a":1}' and sent.tls is None
    assert sent.headers["authorization"] == "Bearer gw-token"
    assert sent.headers["lp-service-name"] == "WEBHOOKS"
    assert sent.headers["lp-forward-url"] == URL
    assert sent.headers["lp-forward-authorization"] == "Bearer endpoint-token"
    assert sent.headers["webhook-id"] == "d1"
    assert sent.read_timeout is None
    # A profile's own read timeout (LiveChat's 10 s) travels with the re-addressed request.
    timed = Request(URL, b"{}", {}, read_timeout=10.0)
    await router.send(direct, "acct/1", endpoint(via_gateway=True), timed)
    assert gateway.requests[-1].read_timeout == 10.0


def test_gateway_asks_to_stop_without_certificate_only_for_strict_mappings() -> None:
    req = Request(URL, b"", {})
    assert (
        gateway_request(req, "http://g", "t", "a", True).headers["lp-stop-if-certificate-not-found"] == "true"
    )
    assert (
        gateway_request(req, "http://g", "t", "a", False).headers["lp-stop-if-certificate-not-found"]
        == "false"
    )


def test_gateway_424_becomes_the_transport_error_it_reports() -> None:
    assert gateway_failure("tls", "handshake failed") == TransportError(
        ErrorKind.TLS, "via the mTLS gateway: handshake failed"
    )
    assert gateway_failure("weird", "").kind is ErrorKind.NETWORK


async def test_plain_http_is_refused_unless_allowed() -> None:
    transport = AiohttpTransport(allow_http=False)
    result = await transport.send(Request("http://hooks.example.com/in", b"{}", {}))
    assert isinstance(result, TransportError) and result.kind is ErrorKind.BLOCKED_TARGET
    assert "HERALD_ALLOW_HTTP" in result.message
    await transport.close()


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, False),
        ({"HERALD_ALLOW_HTTP": "true"}, True),
        ({"HERALD_ALLOW_PRIVATE_TARGETS": "1"}, True),  # development mode (`serve --dev`) implies it
    ],
)
def test_http_allowed_setting(env: dict[str, str], allowed: bool) -> None:
    settings = load_settings(env)
    assert settings.http_allowed is allowed
    assert settings.mtls_refresh == 150.0
