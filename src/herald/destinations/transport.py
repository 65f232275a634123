"""The Transport for bus destinations: one pooled publisher per server, the address guard on the host,
and every failure a TransportError of a kind the delivery log speaks (refused, timeouts, DNS, TLS,
blocked, the broker refusing the message)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from urllib.parse import quote

from aio_pika.exceptions import ChannelNotFoundEntity, DeliveryError, PublishError
from nats.errors import NoRespondersError
from nats.js.errors import APIError as NatsAPIError

from herald.buses.urls import SCHEMES, BusURL, BusURLError
from herald.destinations.publishers import AmqpPublisher, NatsPublisher, Publisher, RedisPublisher
from herald.destinations.urls import check_destination_url
from herald.dispatch.egress import vet_destination
from herald.dispatch.guard import AddressGuard, BlockedTarget
from herald.dispatch.transport import Transport
from herald.domain.models import ErrorKind, Request, Response, TransportError

log = logging.getLogger("herald.destinations")

ServerKey = tuple[str, str, int, str | None, str | None, str]
BUS_SCHEMES = frozenset(SCHEMES)
# What a broker says when it has the connection but will not take the message (no stream on the subject,
# an unroutable or nacked message, an exchange that does not exist).
_REFUSALS = (NoRespondersError, NatsAPIError, DeliveryError, PublishError, ChannelNotFoundEntity)


def classify(exc: BaseException) -> TransportError:
    """The error kind of a failed connect or publish, from the exception and what caused it."""
    message = f"{type(exc).__name__}: {exc}"[:500]
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorKind]] = [
        (BlockedTarget, ErrorKind.BLOCKED_TARGET),
        (_REFUSALS, ErrorKind.BROKER_REFUSED),
        (ConnectionRefusedError, ErrorKind.REFUSED),
        (socket.gaierror, ErrorKind.DNS),
        (ssl.SSLError, ErrorKind.TLS),
        (TimeoutError, ErrorKind.READ_TIMEOUT),
    ]
    for types, kind in kinds:
        if any(isinstance(e, types) for e in chain):
            return TransportError(kind, message)
    if "refused" in message.lower() or "connect call failed" in message.lower():
        return TransportError(ErrorKind.REFUSED, message)
    return TransportError(ErrorKind.NETWORK, message)


def _key(url: BusURL) -> ServerKey:
    vhost = url.path if url.kind == "amqp" else ""
    return (url.scheme, url.host, url.port, url.username, url.password, vhost)


class BusTransport:
    def __init__(
        self, guard: AddressGuard | None, connect_timeout: float = 5.0, read_timeout: float = 5.0
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._publishers: dict[ServerKey, Publisher] = {}
        self._locks: dict[ServerKey, asyncio.Lock] = {}

    async def _open(self, url: BusURL) -> Publisher:
        address = await vet_destination(self.guard, url.host, url.port)
        # TLS verifies the certificate against the name, so a TLS bus connects by name (after vetting it).
        server = url.server() if url.tls else url.server_at(address)
        if url.kind == "redis":
            return RedisPublisher(server, self.connect_timeout, self.read_timeout)
        if url.kind == "nats":
            return await NatsPublisher.connect(server, self.connect_timeout)
        vhost = "/" + quote(url.path, safe="") if url.path else ""
        return await AmqpPublisher.connect(server + vhost, self.connect_timeout)

    async def _publisher(self, url: BusURL) -> Publisher:
        key = _key(url)
        found = self._publishers.get(key)
        if found is not None:
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._publishers.get(key)
            if found is None:
                found = self._publishers[key] = await asyncio.wait_for(self._open(url), self.connect_timeout)
        return found

    async def _drop(self, url: BusURL) -> None:
        """Forget a server's publisher after a failure: the next attempt connects afresh."""
        publisher = self._publishers.pop(_key(url), None)
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close()

    async def send(self, request: Request) -> Response | TransportError:
        try:
            url = check_destination_url(request.url)
        except BusURLError as exc:
            return TransportError(ErrorKind.INTERNAL, f"not a usable bus destination: {exc}")
        timeout = request.read_timeout or self.read_timeout
        try:
            publisher = await self._publisher(url)
        except TimeoutError:
            return TransportError(ErrorKind.CONNECT_TIMEOUT, f"no connection to {url.host} in time")
        except Exception as exc:
            return classify(exc)
        try:
            await asyncio.wait_for(publisher.publish(url, request.body, request.headers, timeout), timeout)
        except Exception as exc:
            # Some refusals close the channel (an unknown exchange): connect afresh next time, always.
            await self._drop(url)
            return classify(exc)
        return Response(200, b"", {})

    async def close(self) -> None:
        for publisher in list(self._publishers.values()):
            with contextlib.suppress(Exception):
                await publisher.close()
        self._publishers.clear()


class DestinationRouting:
    """Bus URLs to the bus transport, every other request to the HTTP side as before."""

    def __init__(self, inner: Transport, bus: BusTransport) -> None:
        self.inner = inner
        self.bus = bus

    async def send(self, request: Request) -> Response | TransportError:
        scheme = request.url.partition(":")[0].lower()
        if scheme in BUS_SCHEMES:
            return await self.bus.send(request)
        return await self.inner.send(request)

    async def close(self) -> None:
        await self.bus.close()
        await self.inner.close()
