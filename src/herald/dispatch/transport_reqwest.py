"""A transport on pyreqwest (Rust reqwest/hyper/rustls): the same promises as `AiohttpTransport` at about
half the CPU per request (docs/adr/0011-native-http-transport.md).

reqwest pins a name to an address only per client (`resolve()` at build time), so there is one client per
origin (scheme, host, port) and TLS identity and read timeout: the name is resolved here, the addresses
vetted by the guard (`vetting.vetted_addresses`), and the client connects to the first vetted address and
nowhere else. Every `DNS_TTL` seconds the name is resolved again; when the pinned address is no longer
among the vetted ones, a new client replaces the old one (which is closed once its requests are done).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pyreqwest import exceptions as rq
from pyreqwest.client import Client, ClientBuilder

from herald.dispatch.guard import AddressGuard, BlockedTarget
from herald.dispatch.transport import RESPONSE_BODY_LIMIT, admitted, answer
from herald.dispatch.vetting import vetted_addresses
from herald.domain.models import ClientIdentity, ErrorKind, Request, Response, TransportError

DNS_TTL = 30.0  # seconds a vetted address is used before the name is resolved again (aiohttp's cache)
# reqwest's read timeout runs from the request's start (connecting included) to the headers, then per
# body read. A connect that outlasts it would fail as a read timeout, so connecting gets at most this
# share of it and fails first, as a connect timeout.
CONNECT_SHARE = 0.99
# How rustls failures read: "invalid peer certificate: UnknownIssuer", "received fatal alert:
# ProtocolVersion", "peer is incompatible: ...".
_TLS_MARKERS = ("certificate", "alert", "handshake", "peer ", "tls")
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

# (scheme, host, port, identity key, read timeout)
_Key = tuple[str, str, int, str, float]


def pem_certificates(pem: bytes) -> list[bytes]:
    """Each certificate of a PEM bundle (reqwest adds roots one certificate at a time)."""
    return _PEM_CERT.findall(pem)


def _details(exc: rq.PyreqwestError) -> str:
    """The error with its causes, most specific last: "error sending request: client error (Connect):
    tcp connect error: Connection refused (os error 111)"."""
    causes = getattr(exc, "details", None) or {}
    parts = [exc.message, *(c["message"] for c in (causes.get("causes") or []))]
    return ": ".join(dict.fromkeys(p for p in parts if p))


def classify_reqwest(exc: BaseException) -> TransportError:
    """Map a pyreqwest failure to the error kinds the delivery log speaks (as `classify` does for aiohttp)."""
    if not isinstance(exc, rq.PyreqwestError):
        return TransportError(ErrorKind.NETWORK, (str(exc) or type(exc).__name__)[:500])
    message = _details(exc) or type(exc).__name__
    lowered = message.lower()
    kind = ErrorKind.NETWORK
    connecting = "(connect)" in lowered or "tcp connect error" in lowered
    if isinstance(exc, rq.RequestTimeoutError):
        # pyreqwest raises ConnectTimeoutError for a read timeout too: only the causes tell them apart.
        kind = ErrorKind.CONNECT_TIMEOUT if connecting else ErrorKind.READ_TIMEOUT
    elif isinstance(exc, rq.ConnectError):
        if any(marker in lowered for marker in _TLS_MARKERS):
            kind = ErrorKind.TLS
        elif "connection refused" in lowered:
            kind = ErrorKind.REFUSED
        elif "dns error" in lowered:
            kind = ErrorKind.DNS
    return TransportError(kind, message[:500])


def bare_builder(connect_timeout: float, read_timeout: float) -> ClientBuilder:
    """A client that sends exactly what it is given: no redirects, no decompression, no proxy, no referer,
    headers as written. The transport's clients and the bench's bare-client ceiling both start here."""
    return (
        ClientBuilder()
        .follow_redirects(False)
        .gzip(False)
        .brotli(False)
        .zstd(False)
        .deflate(False)
        .no_proxy()
        .referer(False)
        .http1_lower_case_headers()
        .connect_timeout(timedelta(seconds=connect_timeout))
        .read_timeout(timedelta(seconds=read_timeout))
    )


@dataclass
class _Origin:
    client: Client
    address: str | None  # the pinned address; None for a literal IP host (nothing to resolve)
    checked_at: float
    alternates: list[str]  # the other vetted addresses, tried in turn when connecting to this one fails


class ReqwestTransport:
    """POSTs over one pyreqwest client per origin: no redirects, explicit connect/read timeouts, TLS ≥ 1.2
    verified (system CAs plus `ca_file`), mTLS identities, the connection pinned to a vetted address."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        read_timeout: float = 5.0,
        guard: AddressGuard | None = None,
        ca_file: str = "",
        allow_http: bool = True,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.guard = guard
        self.allow_http = allow_http
        self._extra_roots = pem_certificates(Path(ca_file).read_bytes()) if ca_file else []
        self._origins: dict[_Key, _Origin] = {}
        self._pending: dict[_Key, asyncio.Task[_Origin]] = {}
        self._retired: dict[asyncio.Task[None], Client] = {}

    def _build(
        self, host: str, port: int, address: str | None, identity: ClientIdentity | None, read_timeout: float
    ) -> Client:
        connect = min(self.connect_timeout, CONNECT_SHARE * read_timeout)
        builder = bare_builder(connect, read_timeout).min_tls_version("TLSv1.2")
        if address is not None:
            builder = builder.resolve(host, address, port)
        roots = pem_certificates(identity.ca_bundle.encode()) if identity and identity.ca_bundle else []
        for cert in roots or self._extra_roots:
            builder = builder.add_root_certificate_pem(cert)
        if identity is not None:
            builder = builder.identity_pem(f"{identity.certificate}\n{identity.private_key}".encode())
        return builder.build()

    async def _origin(self, key: _Key, identity: ClientIdentity | None) -> _Origin:
        origin = self._origins.get(key)
        if origin is not None and time.monotonic() - origin.checked_at < DNS_TTL:
            return origin
        # One resolution per origin at a time, shared by every request that finds it stale; a task, so a
        # cancelled request does not cancel it for the others.
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.create_task(self._refresh(key, identity, origin))
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _refresh(self, key: _Key, identity: ClientIdentity | None, old: _Origin | None) -> _Origin:
        _, host, port, _, _ = key
        try:
            ipaddress.ip_address(host)  # a literal address was vetted by `admitted`: nothing to pin
        except ValueError:
            addresses = await vetted_addresses(self.guard, host, port)
            if old is not None and old.address in addresses:
                old.checked_at = time.monotonic()
                return old
            return self._pin(key, identity, old, addresses)
        if old is not None:
            old.checked_at = time.monotonic()
            return old
        return self._pin(key, identity, old, [])

    def _pin(
        self, key: _Key, identity: ClientIdentity | None, old: _Origin | None, addresses: list[str]
    ) -> _Origin:
        """A client for `key` connecting to `addresses[0]` (nothing pinned when empty: a literal host)."""
        _, host, port, _, read_timeout = key
        address = addresses[0] if addresses else None
        client = self._build(host, port, address, identity, read_timeout)
        fresh = _Origin(client, address, time.monotonic(), addresses[1:])
        self._origins[key] = fresh
        if old is not None:
            self._retire(old.client)
        return fresh

    def _connect_failed(self, key: _Key, identity: ClientIdentity | None, origin: _Origin) -> None:
        """Connecting to the pinned address failed: later requests try the next vetted address (as
        aiohttp tries each in turn); the name is resolved again after DNS_TTL as usual."""
        if origin.alternates and self._origins.get(key) is origin:
            self._pin(key, identity, origin, origin.alternates)

    def _retire(self, client: Client) -> None:
        """Close a replaced client once requests already on it have had their time."""

        async def close_later() -> None:
            await asyncio.sleep(self.connect_timeout + max(self.read_timeout, 60.0))
            await client.close()

        task = asyncio.create_task(close_later())
        self._retired[task] = client
        task.add_done_callback(lambda done: self._retired.pop(done, None))

    async def send(self, request: Request) -> Response | TransportError:
        target = admitted(self.guard, self.allow_http, request.url)
        if isinstance(target, TransportError):
            return target
        scheme, host, port, https = target.scheme, target.host, target.port, target.https
        identity = request.identity if https else None
        read_timeout = request.read_timeout if request.read_timeout is not None else self.read_timeout
        key = (scheme, host, port, identity.key if identity else "", read_timeout)
        try:
            origin = await self._origin(key, identity)
        except BlockedTarget as exc:
            return TransportError(ErrorKind.BLOCKED_TARGET, str(exc)[:500])
        except socket.gaierror as exc:
            reason = exc.strerror or str(exc)
            return TransportError(ErrorKind.DNS, f"the name {host} could not be resolved ({reason})"[:500])
        except (OSError, rq.PyreqwestError) as exc:
            return classify_reqwest(exc)
        try:
            builder = origin.client.post(request.url).headers(request.headers).body_bytes(request.body)
            async with builder.build_streamed() as resp:
                body = b""
                reader = resp.body_reader
                while len(body) < RESPONSE_BODY_LIMIT:
                    chunk = await reader.read(RESPONSE_BODY_LIMIT - len(body))
                    if not chunk:
                        break
                    body += bytes(chunk)
                return answer(resp.status, body, resp.get_header)
        except (rq.PyreqwestError, OSError, ValueError) as exc:
            failed = classify_reqwest(exc)
            if failed.kind in (ErrorKind.REFUSED, ErrorKind.CONNECT_TIMEOUT):
                self._connect_failed(key, identity, origin)
            return failed

    async def close(self) -> None:
        clients = [o.client for o in self._origins.values()]
        for task, client in list(self._retired.items()):
            task.cancel()
            clients.append(client)
        self._retired.clear()
        self._origins.clear()
        for client in clients:
            await client.close()
