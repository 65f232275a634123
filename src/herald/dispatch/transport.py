"""Transports send one request and classify what happened. Like httpx: a real one (aiohttp, one pooled
session) and an in-memory one for unit tests."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Protocol

import aiohttp
from multidict import istr
from yarl import URL

from herald.dispatch.egress import pin, proxy_and_auth
from herald.dispatch.guard import (
    AddressGuard,
    BlockedTarget,
    GuardedResolver,
    Lookup,
    admit,
    guarded_socket,
    system_lookup,
)
from herald.domain.models import ErrorKind, Request, Response, TransportError
from herald.domain.urls import CanonicalURL

RESPONSE_BODY_LIMIT = 4096


class _BareRequest(aiohttp.ClientRequest):
    """No Accept / Accept-Encoding defaults: receivers get exactly the profile's headers (LivePerson's
    protocol names its headers), and no gzip makes logged response bodies unreadable. Cheaper per request
    than `skip_auto_headers`, which rebuilds a header map every time (measured: ~8% of a worker's CPU)."""

    DEFAULT_HEADERS: dict[istr, str] = {}


class Transport(Protocol):
    async def send(self, request: Request) -> Response | TransportError: ...

    async def close(self) -> None: ...


def classify(exc: BaseException) -> TransportError:
    """Map an aiohttp failure to the error kinds the delivery log speaks, with a message a person can
    read ("the address 169.254.169.254 is not allowed (link-local)", "could not connect to …: refused")."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportError(ErrorKind.CONNECT_TIMEOUT, "the connection was not established in time")
    if isinstance(exc, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        return TransportError(ErrorKind.READ_TIMEOUT, "the endpoint did not answer in time")
    if not isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(ErrorKind.NETWORK, (str(exc) or type(exc).__name__)[:500])
    where = f"{exc.host}:{exc.port}"
    cause = exc.os_error
    if isinstance(cause, BlockedTarget):
        return TransportError(ErrorKind.BLOCKED_TARGET, str(cause)[:500])
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TransportError(ErrorKind.DNS, f"the name {exc.host} could not be resolved ({_reason(cause)})")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        verify = getattr(exc.certificate_error, "verify_message", None) or _reason(exc.certificate_error)
        return TransportError(ErrorKind.TLS, f"the TLS certificate of {where} was not accepted: {verify}")
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return TransportError(ErrorKind.TLS, f"the TLS handshake with {where} failed ({_reason(cause)})")
    kind = ErrorKind.REFUSED if isinstance(cause, ConnectionRefusedError) else ErrorKind.NETWORK
    return TransportError(kind, f"could not connect to {where}: {_reason(cause)}"[:500])


def _reason(error: BaseException) -> str:
    """The human part of an OS or TLS error: "Connection refused", "certificate verify failed"."""
    reason = getattr(error, "reason", None)  # OpenSSL's: "WRONG_VERSION_NUMBER"
    if isinstance(error, ssl.SSLError) and isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


@lru_cache(maxsize=8192)
def _request_url(canonical: str) -> URL:
    return URL(canonical, encoded=True)  # already canonical: requested exactly as stored and vetted


def admitted(guard: AddressGuard | None, allow_http: bool, url: str) -> CanonicalURL | TransportError:
    """The canonical target a request may leave for (`guard.admit`), or the `blocked_target` error saying
    why it may not. Every transport asks this before it connects."""
    try:
        return admit(url, guard, allow_http)
    except BlockedTarget as exc:
        return TransportError(ErrorKind.BLOCKED_TARGET, str(exc)[:500])


def answer(status: int, body: bytes, header: Callable[[str], str | None]) -> Response | TransportError:
    """What a received answer means: an mTLS gateway's 424 is a transport failure; otherwise the status,
    the (already bounded) body and Retry-After. `header` looks a response header up by name."""
    if status == 424 and (gateway_error := header("LP-error-from-transport")):
        return gateway_failure(gateway_error, header("LP-message-from-transport") or "")
    retry_after = header("Retry-After")
    return Response(status, body, {"retry-after": retry_after} if retry_after else {})


def gateway_failure(error: str, message: str) -> TransportError:
    """An mTLS forward gateway's 424: the transport between it and the endpoint failed."""
    kind = ErrorKind(error) if error in ErrorKind.__members__.values() else ErrorKind.NETWORK
    return TransportError(kind, f"via the mTLS gateway: {message or error}"[:500])


class AiohttpTransport:
    """POSTs over one pooled session: no redirects, explicit connect/read timeouts, guarded addresses."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        read_timeout: float = 5.0,
        guard: AddressGuard | None = None,
        tls: ssl.SSLContext | None = None,
        allow_http: bool = True,
        lookup: Lookup = system_lookup,  # how names are resolved (tests: a stub, as a rebinding DNS would)
        proxy: str | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.guard = guard
        self.lookup = lookup
        # dispatch/egress.py: each proxy without credentials, which go in Proxy-Authorization instead. The
        # default one (every request), and the named ones requests may choose (Request.proxy).
        self.proxy: str | None = None
        self._proxy_headers: dict[str, str] = {}
        if proxy:
            self.proxy, self._proxy_headers = proxy_and_auth(proxy)
        self._named = {name: proxy_and_auth(url) for name, url in (proxies or {}).items()}
        self.tls = tls  # verified TLS for https:// endpoints without their own context (None: aiohttp's)
        self.allow_http = allow_http
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        # Profiles with their own read timeout (LiveChat: 10 s): one ClientTimeout per distinct value.
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None  # direct: the guard resolves every host
        self._proxied: aiohttp.ClientSession | None = None  # through a proxy: see _open

    def _open(self, direct: bool = True) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=0,  # concurrency is capped per endpoint by the dispatcher, not by the pool
            ttl_dns_cache=30,
            # Through a proxy the connector only connects to the proxy (the operator's, not vetted); the
            # destination is vetted by egress.pin before the proxy is asked.
            resolver=GuardedResolver(self.guard, self.lookup) if self.guard and direct else None,
            socket_factory=guarded_socket(self.guard) if self.guard and direct else None,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            request_class=_BareRequest,
        )

    def _timeout_for(self, read_timeout: float | None) -> aiohttp.ClientTimeout:
        if read_timeout is None:
            return self._timeout
        found = self._timeouts.get(read_timeout)
        if found is None:
            found = self._timeouts[read_timeout] = aiohttp.ClientTimeout(
                total=None, sock_connect=self._timeout.sock_connect, sock_read=read_timeout
            )
        return found

    async def send(self, request: Request) -> Response | TransportError:
        target = admitted(self.guard, self.allow_http, request.url)
        if isinstance(target, TransportError):
            return target
        https = target.https
        url, headers, server_hostname = _request_url(target.text), request.headers, None
        proxy, proxy_headers = self.proxy, self._proxy_headers
        if request.proxy is not None:
            if request.proxy not in self._named:
                unknown = f"no egress proxy named {request.proxy!r} is configured (HERALD_EGRESS_PROXIES)"
                return TransportError(ErrorKind.NETWORK, unknown)
            proxy, proxy_headers = self._named[request.proxy]
        if proxy is None:
            if self._session is None:
                self._session = self._open()
            session = self._session
        else:
            if self._proxied is None:
                self._proxied = self._open(direct=False)
            session = self._proxied
            try:
                pinned = await pin(self.guard, target, self.lookup)
            except BlockedTarget as exc:
                return TransportError(ErrorKind.BLOCKED_TARGET, str(exc)[:500])
            except OSError as exc:
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                unresolved = f"the name {target.host} could not be resolved ({reason})"
                return TransportError(ErrorKind.DNS, unresolved[:500])
            url, server_hostname = _request_url(pinned.url), pinned.server_hostname
            headers = {**request.headers, "Host": pinned.host_header}
            if not https:  # absolute form: the proxy reads its credentials from the request itself
                headers.update(proxy_headers)
        try:
            async with session.post(
                url,
                data=request.body,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout_for(request.read_timeout),
                ssl=(request.tls or self.tls or True) if https else True,
                proxy=proxy,
                proxy_headers=proxy_headers or None,
                server_hostname=server_hostname,
            ) as resp:
                body = b""
                while len(body) < RESPONSE_BODY_LIMIT:
                    chunk = await resp.content.read(RESPONSE_BODY_LIMIT - len(body))
                    if not chunk:
                        break
                    body += chunk
                return answer(resp.status, body, resp.headers.get)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return classify(exc)

    async def close(self) -> None:
        for session in (self._session, self._proxied):
            if session is not None:
                await session.close()
        self._session = self._proxied = None


Handler = Callable[[Request], Awaitable[Response | TransportError]]


class MemoryTransport:
    """Answers requests with a function and remembers them: for unit tests, no sockets."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response | TransportError:
        self.requests.append(request)
        return await self.handler(request)

    async def close(self) -> None:
        return None
