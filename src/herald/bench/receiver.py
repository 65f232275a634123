"""The bench receiver: a minimal HTTP/1.1 keep-alive server on raw asyncio Protocols (uvloop).

Every POST outside `/_bench/` is a delivery: it is answered `200` with an empty body and counted. When the
body carries the bench's mark (`"t":<publish time, ns>,"seq":<n>`), the receive time minus `t` is kept as
a publish→delivered latency and `(path, seq)` is remembered so duplicates (at-least-once) show up.

Control endpoints, for the driver:  GET /_bench/stats (cheap counters), GET /_bench/summary (counters plus
latency percentiles), POST /_bench/reset, POST /_bench/latency-reset (a new latency window; counts go on).

Run it on its own:  python -m herald.bench.receiver --port 8900
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import time
from array import array
from dataclasses import dataclass
from typing import cast

import orjson

from herald.bench.stats import summarize

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
CONTROL_PREFIX = b"/_bench/"
MARK = re.compile(rb'"t":(\d+),"seq":(\d+)')

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_REASONS = {
    400: b"Bad Request",
    404: b"Not Found",
    431: b"Request Header Fields Too Large",
    413: b"Content Too Large",
    501: b"Not Implemented",
}


class HttpError(Exception):
    """The peer sent something this server will not parse; answer `status` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    method: bytes
    target: bytes
    body: bytes
    keep_alive: bool


def _header(lower_head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower case, with the colon) in a lower-cased head, or None."""
    i = lower_head.find(b"\r\n" + name)
    if i < 0:
        return None
    start = i + 2 + len(name)
    end = lower_head.find(b"\r\n", start)
    value = lower_head[start:] if end < 0 else lower_head[start:end]
    if lower_head.find(b"\r\n" + name, start) >= 0:
        raise HttpError(400, f"repeated {name.decode()!r} header")
    return value.strip()


class RequestParser:
    """Incremental HTTP/1.x request parser: feed it bytes as they arrive, get whole requests back.

    Handles requests split across reads and several pipelined requests in one read. Bodies are framed by
    Content-Length only; chunked requests are refused (501).
    """

    __slots__ = ("_buf", "_pending", "closed")

    def __init__(self) -> None:
        self._buf = bytearray()
        # A head already parsed, waiting for its body: (method, target, keep_alive, content length).
        self._pending: tuple[bytes, bytes, bool, int] | None = None
        self.closed = False  # a request without keep-alive was returned; nothing after it is parsed

    def feed(self, data: bytes) -> list[ParsedRequest]:
        if self.closed:
            return []
        buf = self._buf
        buf += data
        out: list[ParsedRequest] = []
        pos = 0
        n = len(buf)
        while True:
            if self._pending is None:
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    if n - pos > MAX_HEAD:
                        raise HttpError(431, "request head too large")
                    break
                self._pending = self._parse_head(bytes(buf[pos:end]))
                pos = end + 4
            method, target, keep_alive, length = self._pending
            if n - pos < length:
                break
            out.append(ParsedRequest(method, target, bytes(buf[pos : pos + length]), keep_alive))
            pos += length
            self._pending = None
            if not keep_alive:
                self.closed = True
                pos = n
                break
        if pos:
            del buf[:pos]
        return out

    @staticmethod
    def _parse_head(head: bytes) -> tuple[bytes, bytes, bool, int]:
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0") or not parts[0].isalpha():
            raise HttpError(400, "malformed request line")
        method, target, version = parts
        lower = head.lower()
        if _header(lower, b"transfer-encoding:") is not None:
            raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
        length = 0
        raw_length = _header(lower, b"content-length:")
        if raw_length is not None:
            if not raw_length.isdigit():
                raise HttpError(400, "invalid Content-Length")
            length = int(raw_length)
            if length > MAX_BODY:
                raise HttpError(413, "request body too large")
        connection = _header(lower, b"connection:") or b""
        keep_alive = b"keep-alive" in connection if version == b"HTTP/1.0" else b"close" not in connection
        return method, target, keep_alive, length


def _response(
    status: int, body: bytes, content_type: bytes = b"application/json", close: bool = False
) -> bytes:
    reason = b"OK" if status == 200 else _REASONS.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        status,
        reason,
        content_type,
        len(body),
    )
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


class Receiver:
    """Counts deliveries and keeps their latencies; answers the driver's control requests."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.marked = 0
        self.first_ns = 0
        self.last_ns = 0
        self.latencies_us: array[int] = array("q")
        self.seen: set[tuple[bytes, int]] = set()

    def record(self, target: bytes, body: bytes, now_ns: int) -> None:
        self.count += 1
        if not self.first_ns:
            self.first_ns = now_ns
        self.last_ns = now_ns
        mark = MARK.search(body)
        if mark is not None:
            self.marked += 1
            self.latencies_us.append((now_ns - int(mark[1])) // 1000)
            self.seen.add((target, int(mark[2])))

    def stats(self) -> dict[str, int]:
        return {
            "count": self.count,
            "marked": self.marked,
            "unique": len(self.seen),
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
        }

    def summary(self) -> dict[str, object]:
        latency = summarize(us / 1000 for us in self.latencies_us)
        return {**self.stats(), "latency_ms": latency}

    def handle(self, request: ParsedRequest, now_ns: int) -> bytes:
        target = request.target
        if not target.startswith(CONTROL_PREFIX):
            if request.method != b"POST":
                return _response(404, b"", close=not request.keep_alive)
            self.record(target, request.body, now_ns)
            return _OK if request.keep_alive else _OK_CLOSE
        name = target[len(CONTROL_PREFIX) :]
        if name == b"stats":
            body = orjson.dumps(self.stats())
        elif name == b"summary":
            body = orjson.dumps(self.summary())
        elif name == b"reset" and request.method == b"POST":
            self.reset()
            body = b"{}"
        elif name == b"latency-reset" and request.method == b"POST":
            self.latencies_us = array("q")
            body = b"{}"
        else:
            return _response(404, b"", close=not request.keep_alive)
        return _response(200, body, close=not request.keep_alive)


class ReceiverProtocol(asyncio.Protocol):
    """One connection: parse what arrives, answer every complete request in one write."""

    __slots__ = ("_app", "_parser", "_transport")

    def __init__(self, app: Receiver) -> None:
        self._app = app
        self._parser = RequestParser()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        try:
            requests = self._parser.feed(data)
        except HttpError as exc:
            transport.write(_response(exc.status, str(exc).encode(), b"text/plain", close=True))
            transport.close()
            return
        if not requests:
            return
        now_ns = time.time_ns()
        handle = self._app.handle
        transport.write(b"".join([handle(r, now_ns) for r in requests]))
        if self._parser.closed:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    app = Receiver()
    server = await loop.create_server(
        lambda: ReceiverProtocol(app), host, port, backlog=4096, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Herald bench receiver: answers 200, counts, times.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - Windows
        runner = asyncio.Runner()
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
