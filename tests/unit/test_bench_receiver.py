"""The bench receiver's HTTP parsing: partial reads, pipelining, Content-Length framing, and its counting."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from herald.bench.receiver import HttpError, ParsedRequest, Receiver, ReceiverProtocol, RequestParser


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
    )


def test_one_request_in_one_read() -> None:
    parser = RequestParser()
    assert parser.feed(post("/hook/0", b'{"a":1}')) == [ParsedRequest(b"POST", b"/hook/0", b'{"a":1}', True)]


def test_byte_by_byte_reads_yield_the_request_once_complete() -> None:
    raw = post("/hook/1", b'{"t":1,"seq":2}')
    parser = RequestParser()
    got: list[ParsedRequest] = []
    for i in range(len(raw)):
        out = parser.feed(raw[i : i + 1])
        if i < len(raw) - 1:
            assert out == []
        got += out
    assert got == [ParsedRequest(b"POST", b"/hook/1", b'{"t":1,"seq":2}', True)]


def test_pipelined_requests_split_at_awkward_places() -> None:
    bodies = [b"", b"x" * 10, b"\r\n\r\n" * 3, b'{"t":5,"seq":6}']
    raw = b"".join(post(f"/p/{i}", b) for i, b in enumerate(bodies)) + b"GET /_bench/stats HTTP/1.1\r\n\r\n"
    for cut in (1, 7, len(raw) // 2, len(raw) - 3):
        parser = RequestParser()
        got = parser.feed(raw[:cut]) + parser.feed(raw[cut:])
        assert [(r.target, r.body) for r in got] == [
            *((f"/p/{i}".encode(), b) for i, b in enumerate(bodies)),
            (b"/_bench/stats", b""),
        ]


def test_body_containing_a_blank_line_is_framed_by_content_length() -> None:
    body = b"head\r\n\r\nPOST /fake HTTP/1.1\r\n\r\n"
    assert [r.body for r in RequestParser().feed(post("/a", body) + post("/b", b"2"))] == [body, b"2"]


def test_header_names_are_case_insensitive() -> None:
    raw = b"POST /a HTTP/1.1\r\ncontent-LENGTH:   3\r\n\r\nabc"
    assert RequestParser().feed(raw)[0].body == b"abc"


def test_connection_close_and_http10() -> None:
    parser = RequestParser()
    out = parser.feed(post("/a", b"1", b"Connection: close\r\n") + post("/b", b"2"))
    assert [r.keep_alive for r in out] == [False]
    assert parser.closed and parser.feed(post("/c", b"3")) == []
    assert not RequestParser().feed(b"GET / HTTP/1.0\r\n\r\n")[0].keep_alive
    assert RequestParser().feed(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")[0].keep_alive


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"NONSENSE\r\n\r\n", 400),
        (b"POST /a HTTP/1.1\r\nX: " + b"y" * 70_000, 431),
    ],
)
def test_bad_requests_raise(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as info:
        RequestParser().feed(raw)
    assert info.value.status == status


def test_receiver_counts_latency_and_duplicates() -> None:
    app = Receiver()
    now = time.time_ns()
    for seq in (1, 2, 2):
        body = b'{"type":"bench.event","data":{"t":%d,"seq":%d,"pad":"x"}}' % (now - 5_000_000, seq)
        assert app.handle(ParsedRequest(b"POST", b"/hook/0", body, True), now).startswith(b"HTTP/1.1 200 OK")
    app.handle(ParsedRequest(b"POST", b"/hook/0", b"{}", True), now)  # unmarked: counted, not timed
    assert app.stats() == {"count": 4, "marked": 3, "unique": 2, "first_ns": now, "last_ns": now}
    summary = orjson.loads(
        app.handle(ParsedRequest(b"GET", b"/_bench/summary", b"", True), now).split(b"\r\n\r\n")[1]
    )
    assert summary["latency_ms"]["p99"] == pytest.approx(5.0)
    # A new latency window: earlier latencies are gone, the counts go on.
    app.handle(ParsedRequest(b"POST", b"/_bench/latency-reset", b"", True), now)
    assert app.summary()["latency_ms"]["count"] == 0
    assert app.stats()["count"] == 4
    app.handle(ParsedRequest(b"POST", b"/_bench/reset", b"", True), now)
    assert app.stats()["count"] == 0


async def test_protocol_over_a_real_socket() -> None:
    app = Receiver()
    server = await asyncio.get_running_loop().create_server(lambda: ReceiverProtocol(app), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw = post("/hook/0", b'{"t":1,"seq":1}') + post("/hook/0", b'{"t":1,"seq":2}')
    writer.write(raw[:20])
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(raw[20:])
    answer = b""
    while answer.count(b"HTTP/1.1 200 OK") < 2:
        answer += await asyncio.wait_for(reader.read(4096), 1)
    assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 2
    writer.write(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(4096), 1)).startswith(b"HTTP/1.1 501")
    assert await asyncio.wait_for(reader.read(4096), 1) == b""  # closed after the error
    writer.close()
    server.close()
    await server.wait_closed()
    assert app.count == 2
