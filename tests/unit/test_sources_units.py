"""Pure parts of sources and destinations: message → event rules, bus URLs, the back-pressure gate, the
destination error kinds."""

from __future__ import annotations

import dataclasses
import socket

import orjson
import pytest

from herald.buses.urls import BusURLError, mask_password, parse_bus_url
from herald.destinations.transport import classify
from herald.destinations.urls import check_destination_url, redis_maxlen
from herald.dispatch.guard import BlockedTarget
from herald.domain.models import ErrorKind
from herald.sources.backpressure import Gate
from herald.sources.messages import Message, Poison, dotted, parse, raw_text
from herald.sources.spec import SourceSpec

SPEC = SourceSpec(
    id="src_1", name="s", kind="redis-stream", url="redis://h", target="t", group="g", account=None,
    account_field="account",
)  # fmt: skip


def test_dotted_paths() -> None:
    doc = {"a": {"b": {"c": 1}}, "x": [1]}
    assert dotted(doc, "a.b.c") == 1
    assert dotted(doc, "a.z") is None and dotted(doc, "x.0") is None


def test_a_message_becomes_an_event() -> None:
    body = {"id": 7, "type": "t.x", "account": "acme", "data": {"k": "v"}, "ordering_key": "c1"}
    parsed = parse(SPEC, Message("t:1-0", orjson.dumps(body)), now=5.0)
    assert parsed.account == "acme"
    ev = parsed.event
    assert (ev.id, ev.type, ev.timestamp, ev.ordering_key) == ("7", "t.x", 5.0, "c1")
    assert orjson.loads(ev.data) == {"k": "v"}
    no_id = parse(SPEC, Message("t:2-0", orjson.dumps({"type": "t.x", "account": "a", "data": {}})))
    assert no_id.event.id == "src_1:t:2-0"
    fixed = dataclasses.replace(SPEC, account="z")
    assert parse(fixed, Message("m", orjson.dumps({"type": "t", "account": "q", "data": {}}))).account == "z"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({"account": "a", "data": {}}), "missing type"),
        (orjson.dumps({"type": "bad type!", "account": "a", "data": {}}), "missing type"),
        (orjson.dumps({"type": "t", "data": {}}), "unknown account"),
        (orjson.dumps({"type": "t", "account": "-bad", "data": {}}), "unknown account"),
        (orjson.dumps({"type": "t", "account": "a", "data": [1]}), "missing data"),
        (orjson.dumps({"type": "t", "account": "a", "data": {}, "id": "has space"}), "bad id"),
        (
            orjson.dumps({"type": "t", "account": "a", "data": {}, "ordering_key": "x" * 300}),
            "bad ordering key",
        ),
    ],
)
def test_poison_says_why(body: bytes, reason: str) -> None:
    with pytest.raises(Poison, match=reason):
        parse(SPEC, Message("m", body))


def test_raw_text_is_bounded_and_storable() -> None:
    assert raw_text(b"a\x00b\xff") == "a\ufffdb\ufffd"
    assert len(raw_text(b"x" * 100_000)) == 64 * 1024


def test_bus_urls() -> None:
    url = parse_bus_url("amqp://u:p%40ss@rabbit.example:5673/vh?exchange=x&routing_key=k")
    assert (url.kind, url.host, url.port, url.password, url.path, url.query) == (
        "amqp", "rabbit.example", 5673, "p@ss", "vh", {"exchange": "x", "routing_key": "k"},
    )  # fmt: skip
    assert parse_bus_url("nats://n").port == 4222 and parse_bus_url("rediss://r").tls
    assert url.server_at("10.0.0.1") == "amqp://u:p@ss@10.0.0.1:5673"
    for bad, why in [
        ("http://h/x", "must be one of"),
        ("redis:///x", "host"),
        ("redis://h/x#f", "fragment"),
        ("redis://h:99999/x", "valid"),
        ("redis://h/x?maxlen=1&maxlen=2", "more than once"),
    ]:
        with pytest.raises(BusURLError, match=why):
            parse_bus_url(bad)
    with pytest.raises(BusURLError, match="redis://"):
        parse_bus_url("nats://h", kind="redis")
    assert mask_password("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert mask_password("redis://h:1/0") == "redis://h:1/0"


def test_destination_urls() -> None:
    assert redis_maxlen(check_destination_url("redis://h/s")) == 100_000
    assert redis_maxlen(check_destination_url("redis://h/s?maxlen=5")) == 5
    check_destination_url("nats://h/orders.created")
    check_destination_url("amqp://u:p@h/?routing_key=k")
    for bad in ("redis://h/", "redis://h/a/b", "nats://h/a.*", "nats://h/a.>", "amqp://h/?exchange=x",
                "redis://h/s?maxlen=x", "nats://h/s?x=1"):  # fmt: skip
        with pytest.raises(BusURLError):
            check_destination_url(bad)


def test_destination_error_kinds() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("connect failed") from inner
    except RuntimeError as exc:
        assert classify(exc).kind is ErrorKind.REFUSED
    assert classify(BlockedTarget("no")).kind is ErrorKind.BLOCKED_TARGET
    assert classify(socket.gaierror(-2, "Name does not resolve")).kind is ErrorKind.DNS
    assert classify(TimeoutError()).kind is ErrorKind.READ_TIMEOUT
    assert classify(ValueError("odd")).kind is ErrorKind.NETWORK


async def test_gate_closes_over_the_bound_and_reopens_below_the_mark() -> None:
    depths = iter([5, 11, 10, 9, 8, 8])

    async def depth() -> int:
        return next(depths)

    gate = Gate(depth, limit=10)
    seen = []
    for _ in range(6):
        gate.update(await depth())
        seen.append(gate.open.is_set())
    assert seen == [True, False, False, False, True, True]


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.1:6379/s",
        "redis://2130706433/s",
        "nats://0x7f.0.0.1:4222/subject",
        "redis://169.254.169.254.:6379/s",
    ],
)
def test_bus_hosts_follow_the_canonical_host_rule(url: str) -> None:
    """A bus destination's host is read by the same rule as every URL Herald dials (ADR 0009):
    disguised numeric and Unicode hosts are refused, never reinterpreted."""
    with pytest.raises(BusURLError):
        check_destination_url(url)


def test_bus_hosts_are_stored_canonical() -> None:
    # Unicode digits and dots become what they really are before the guard decides (it refuses loopback).
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in "127.0.0.1")
    assert check_destination_url(f"amqp://guest:guest@{fullwidth}:5672/?routing_key=k").host == "127.0.0.1"
    assert check_destination_url("redis://127。0。0。1/s").host == "127.0.0.1"
    assert parse_bus_url("redis://LocalHost:6379/s").host == "localhost"
    assert parse_bus_url("nats://[0:0::1]:4222/x").host == "::1"
    assert parse_bus_url("nats://[::1]:4222/x").server() == "nats://[::1]:4222"
