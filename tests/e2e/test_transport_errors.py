"""Network failures are classified in the delivery log: read timeout, connect timeout, refused; response
bodies are kept only up to 4 KiB."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from e2e_harness import (
    BACKENDS,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    Api,
    Herald,
    Receiver,
    Reply,
    deployment,
    unique,
)

from herald.dispatch.transports import TRANSPORTS

BODY_LIMIT = 4096


@pytest.fixture(
    scope="module",
    params=[(b, t) for b in BACKENDS for t in TRANSPORTS],
    ids=[f"{b}-{t}" for b in BACKENDS for t in TRANSPORTS],
)
def herald(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herald]:
    """Every test here runs once per backend and transport (HERALD_TRANSPORT): the conformance suite."""
    backend, transport = request.param
    workdir = tmp_path_factory.mktemp(f"herald-{backend}-{transport}")
    with deployment(backend, workdir, HERALD_TRANSPORT=transport) as h:
        yield h


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback URL whose TCP handshake never completes: a listening socket whose accept queue is full
    and that never accepts, so the kernel drops further SYNs and a client's connect times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        # Prove the premise: a fresh connection does not complete.
        probe = socket.socket()
        probe.settimeout(0.5)
        with pytest.raises(TimeoutError), probe:
            probe.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}/never"
    finally:
        for s in [*fillers, server]:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/closed"


def test_read_timeout_is_recorded_and_retried(api: Api, receiver: Receiver, account: str) -> None:
    path = receiver.new_path("slow")
    receiver.script(path, default=Reply(200, delay=READ_TIMEOUT + 1.5))
    api.account_subscription(account, receiver.url(path), ["slow.event"], max_retries=1)
    event_id = unique("evt-slow")
    api.publish(account, {"id": event_id, "type": "slow.event", "data": {}})

    delivery = api.settled(account, event_id=event_id, timeout=15)
    assert delivery["status"] == "dead", delivery
    assert [a["error_kind"] for a in delivery["attempt_log"]] == ["read_timeout", "read_timeout"]
    for attempt in delivery["attempt_log"]:
        assert attempt["status_code"] is None
        assert attempt["response_body"] is None
        assert READ_TIMEOUT * 1000 * 0.9 <= attempt["duration_ms"] < (READ_TIMEOUT + 1.0) * 1000, attempt
    assert delivery["last_error_kind"] == "read_timeout"
    assert len(receiver.requests(path)) == 2


def test_connect_timeout_is_recorded(api: Api, account: str, blackhole: str) -> None:
    api.account_subscription(account, blackhole, ["blackhole.event"], max_retries=0)
    event_id = unique("evt-blackhole")
    api.publish(account, {"id": event_id, "type": "blackhole.event", "data": {}})

    delivery = api.settled(account, event_id=event_id, timeout=15)
    assert delivery["status"] == "dead", delivery
    [attempt] = delivery["attempt_log"]
    assert attempt["error_kind"] == "connect_timeout", attempt
    assert attempt["status_code"] is None
    assert CONNECT_TIMEOUT * 1000 * 0.9 <= attempt["duration_ms"] < (CONNECT_TIMEOUT + 1.0) * 1000, attempt
    assert attempt["request_headers"]["webhook-id"] == delivery["id"]


def test_refused_connection_is_recorded(api: Api, account: str, closed_port_url: str) -> None:
    api.account_subscription(account, closed_port_url, ["closed.event"], max_retries=0)
    event_id = unique("evt-closed")
    api.publish(account, {"id": event_id, "type": "closed.event", "data": {}})

    delivery = api.settled(account, event_id=event_id)
    assert delivery["status"] == "dead", delivery
    [attempt] = delivery["attempt_log"]
    assert attempt["error_kind"] == "refused", attempt
    assert attempt["status_code"] is None
    assert attempt["duration_ms"] < CONNECT_TIMEOUT * 1000 * 0.5, "a refusal is immediate, not a timeout"
    assert delivery["last_error_kind"] == "refused"


def test_response_body_is_kept_up_to_4_kib(api: Api, receiver: Receiver, account: str) -> None:
    big = b"".join(b"%06d|" % i for i in range(3000))  # 21,000 bytes, every prefix distinct
    ok_path, fail_path = receiver.new_path("big-ok"), receiver.new_path("big-fail")
    receiver.script(ok_path, default=Reply(200, body=big))
    receiver.script(fail_path, default=Reply(500, body=big))
    ok_sub = api.account_subscription(account, receiver.url(ok_path), ["big.event"])
    fail_sub = api.account_subscription(account, receiver.url(fail_path), ["big.event"], max_retries=0)
    event_id = unique("evt-big")
    api.publish(account, {"id": event_id, "type": "big.event", "data": {}})

    for sub, status, outcome in ((ok_sub, 200, "delivered"), (fail_sub, 500, "dead")):
        delivery = api.settled(account, event_id=event_id, subscription_id=sub["id"])
        assert delivery["status"] == outcome, delivery
        [attempt] = delivery["attempt_log"]
        assert attempt["status_code"] == status
        assert attempt["response_body"] == big[:BODY_LIMIT].decode()
