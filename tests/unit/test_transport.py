"""Transports: classification of aiohttp and pyreqwest failures, the hostile-address table for both, and
the in-memory transport used by tests."""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from pyreqwest import exceptions as rq

from herald.dispatch.guard import AddressGuard, BlockedTarget
from herald.dispatch.transport import AiohttpTransport, MemoryTransport, classify
from herald.dispatch.transport_reqwest import ReqwestTransport, classify_reqwest
from herald.domain.models import ErrorKind, Request, Response, TransportError


def _cert_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    error.verify_message = "self-signed certificate"
    return error


def _ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] wrong version number")
    error.reason = reason
    return error


def key() -> ConnectionKey:
    values = dict.fromkeys(ConnectionKey._fields)
    values.update(host="hooks.example.com", port=443, is_ssl=True, ssl=True)
    return ConnectionKey(**values)


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            aiohttp.ConnectionTimeoutError("Connection timeout to host"),
            ErrorKind.CONNECT_TIMEOUT,
            "the connection was not established in time",
        ),
        (
            aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
            ErrorKind.READ_TIMEOUT,
            "the endpoint did not answer in time",
        ),
        (TimeoutError(), ErrorKind.READ_TIMEOUT, "the endpoint did not answer in time"),
        (
            aiohttp.ServerTimeoutError("timeout"),
            ErrorKind.READ_TIMEOUT,
            "the endpoint did not answer in time",
        ),
        (
            aiohttp.ClientConnectorDNSError(key(), socket.gaierror(-2, "Name or service not known")),
            ErrorKind.DNS,
            "the name hooks.example.com could not be resolved (name or service not known)",
        ),
        (
            aiohttp.ClientConnectorDNSError(
                key(), BlockedTarget("the address 169.254.169.254 is not allowed (link-local)")
            ),
            ErrorKind.BLOCKED_TARGET,
            "the address 169.254.169.254 is not allowed (link-local)",
        ),
        (  # what the socket factory raises for an address literal: a plain connector error
            aiohttp.ClientConnectorError(key(), BlockedTarget("the address ::1 is not allowed (loopback)")),
            ErrorKind.BLOCKED_TARGET,
            "the address ::1 is not allowed (loopback)",
        ),
        (
            aiohttp.ClientConnectorCertificateError(key(), _cert_error()),
            ErrorKind.TLS,
            "the TLS certificate of hooks.example.com:443 was not accepted: self-signed certificate",
        ),
        (
            aiohttp.ClientConnectorSSLError(key(), _ssl_error("WRONG_VERSION_NUMBER")),
            ErrorKind.TLS,
            "the TLS handshake with hooks.example.com:443 failed (wrong version number)",
        ),
        (
            aiohttp.ClientConnectorError(key(), ConnectionRefusedError(111, "Connection refused")),
            ErrorKind.REFUSED,
            "could not connect to hooks.example.com:443: connection refused",
        ),
        (
            aiohttp.ClientConnectorError(key(), OSError(113, "No route to host")),
            ErrorKind.NETWORK,
            "could not connect to hooks.example.com:443: no route to host",
        ),
        (aiohttp.ServerDisconnectedError(), ErrorKind.NETWORK, "Server disconnected"),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            ErrorKind.NETWORK,
            "Response payload is not completed",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            ErrorKind.NETWORK,
            "[Errno 104] Connection reset by peer",
        ),
    ],
)
def test_classify(exc: BaseException, kind: ErrorKind, message: str) -> None:
    """Kinds for the log, and messages a person can read (no `ssl:<SSLContext object at 0x…>`)."""
    assert classify(exc) == TransportError(kind, message)


def test_classify_message_falls_back_to_type_name_and_is_bounded() -> None:
    assert classify(aiohttp.ClientPayloadError()).message == "ClientPayloadError"
    assert len(classify(OSError("x" * 5000)).message) == 500


async def test_memory_transport_answers_and_remembers() -> None:
    seen: list[str] = []

    async def handler(request: Request) -> Response | TransportError:
        seen.append(request.url)
        if request.url.endswith("/down"):
            return TransportError(ErrorKind.REFUSED, "refused")
        return Response(200, b"ok:" + request.body)

    transport = MemoryTransport(handler)
    first = Request("https://a.example/up", b"1", {"x": "1"})
    second = Request("https://a.example/down", b"2", {})
    assert await transport.send(first) == Response(200, b"ok:1")
    assert await transport.send(second) == TransportError(ErrorKind.REFUSED, "refused")
    assert transport.requests == [first, second]
    assert seen == [first.url, second.url]
    assert await transport.close() is None


HOSTILE = [
    "http://127.0.0.1:9/h",
    "http://[::1]:9/h",
    "http://169.254.169.254/",
    "http://10.0.0.1/h",
    "http://192.168.1.1/h",
    "http://100.64.0.1/h",
    "http://[::ffff:127.0.0.1]:9/h",
    "http://[fe80::1]/h",
    "http://0.0.0.0:9/h",
    "http://[64:ff9b::a9fe:a9fe]/h",
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_aiohttp_transport_refuses_blocked_literal_without_connecting(url: str) -> None:
    transport = AiohttpTransport(guard=AddressGuard())
    result = await transport.send(Request(url, b"{}", {}))
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.BLOCKED_TARGET
    assert transport._session is None  # no session was even opened
    await transport.close()


@pytest.mark.parametrize("url", HOSTILE)
async def test_reqwest_transport_refuses_blocked_literal_without_connecting(url: str) -> None:
    transport = ReqwestTransport(guard=AddressGuard())
    result = await transport.send(Request(url, b"{}", {}))
    assert isinstance(result, TransportError)
    assert result.kind is ErrorKind.BLOCKED_TARGET
    assert transport._origins == {}  # no client was even built
    await transport.close()


def _rq(cls: type[rq.RequestError], *causes: str) -> rq.RequestError:
    return cls("error", {"causes": [{"message": c} for c in causes]})


SENDING = "error sending request for url (https://hooks.example.com/h)"
CONNECT = "client error (Connect)"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            _rq(rq.ConnectTimeoutError, SENDING, CONNECT, "tcp connect error", "deadline"),
            ErrorKind.CONNECT_TIMEOUT,
        ),
        # pyreqwest names a read timeout ConnectTimeoutError as well; the causes tell it apart.
        (_rq(rq.ConnectTimeoutError, SENDING, "operation timed out"), ErrorKind.READ_TIMEOUT),
        (_rq(rq.ReadTimeoutError, SENDING, "operation timed out"), ErrorKind.READ_TIMEOUT),
        (
            _rq(rq.ConnectError, SENDING, CONNECT, "invalid peer certificate: UnknownIssuer"),
            ErrorKind.TLS,
        ),
        (
            _rq(rq.ConnectError, SENDING, CONNECT, "received fatal alert: ProtocolVersion"),
            ErrorKind.TLS,
        ),
        (
            _rq(rq.ConnectError, SENDING, CONNECT, "tcp connect error", "Connection refused"),
            ErrorKind.REFUSED,
        ),
        (_rq(rq.ConnectError, SENDING, CONNECT, "dns error"), ErrorKind.DNS),
        (_rq(rq.ReadError, SENDING, "connection closed before message completed"), ErrorKind.NETWORK),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.NETWORK),
    ],
)
def test_classify_reqwest(exc: BaseException, kind: ErrorKind) -> None:
    error = classify_reqwest(exc)
    assert error.kind is kind
    assert error.message and len(error.message) <= 500


def test_classify_reqwest_message_reads_as_a_chain() -> None:
    error = classify_reqwest(_rq(rq.ConnectError, SENDING, "client error (Connect)", "Connection refused"))
    assert error.message == f"error: {SENDING}: client error (Connect): Connection refused"
