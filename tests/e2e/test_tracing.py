"""OpenTelemetry traces from a live Herald (both backends: on PostgreSQL the attempts are sent by separate
worker processes) to an OTLP/HTTP receiver inside the test that decodes the protobuf Herald sends: the
producer's traceparent is the parent of the publish span, and every attempt of that event is its child."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_harness import Herald, Receiver, Reply, free_port, unique, wait_until
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from herald import tracing


class OtlpReceiver:
    """POST /v1/traces, protobuf in, spans kept as dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.services: set[str] = set()
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                assert self.path == "/v1/traces", self.path
                assert self.headers["content-type"] == "application/x-protobuf"
                request = ExportTraceServiceRequest.FromString(body)
                with lock:
                    for resource_spans in request.resource_spans:
                        attrs = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                        outer.services.add(str(attrs.get("service.name")))
                        for scope in resource_spans.scope_spans:
                            for s in scope.spans:
                                outer.spans.append(
                                    {
                                        "name": s.name,
                                        "trace_id": s.trace_id.hex(),
                                        "span_id": s.span_id.hex(),
                                        "parent": s.parent_span_id.hex(),
                                        "status": s.status.code,
                                        "kind": s.kind,
                                        "attrs": {a.key: _value(a.value) for a in s.attributes},
                                        "duration_ns": s.end_time_unix_nano - s.start_time_unix_nano,
                                    }
                                )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def named(self, name: str, **attrs: Any) -> list[dict[str, Any]]:
        return [
            s
            for s in list(self.spans)
            if s["name"] == name and all(s["attrs"].get(k) == v for k, v in attrs.items())
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


def test_traces_follow_an_event_from_publish_to_every_attempt(
    backend: str, herald_factory: Callable[..., Herald], receiver: Receiver, otlp: OtlpReceiver
) -> None:
    herald = herald_factory(
        backend,
        workers=1,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_SERVICE_NAME="herald-under-test",
    )
    api = herald.api
    account = unique("acct")
    ok, failing = receiver.new_path("traced-ok"), receiver.new_path("traced-500")
    receiver.script(failing, default=Reply(500))
    api.account_subscription(account, receiver.url(ok), ["traced.*"], propagate_trace=True)
    api.account_subscription(account, receiver.url(failing), ["traced.*"], max_retries=0)

    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    event_id = unique("evt-traced")
    resp = api.request(
        "POST",
        f"/v1/accounts/{account}/events",
        json={"id": event_id, "type": "traced.thing", "data": {"n": 1}},
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    assert resp.status_code == 202, resp.text
    [sent] = receiver.wait_for(ok, 1)
    [not_asked] = receiver.wait_for(failing, 1)

    def spans_arrived() -> bool:
        return len(otlp.named("herald.attempt", **{"herald.event_id": event_id})) == 2 and bool(
            otlp.named("herald.record")
        )

    wait_until("the spans to reach the OTLP receiver", spans_arrived, timeout=20)
    assert otlp.services == {"herald-under-test"}
    [publish] = otlp.named("herald.publish", **{"herald.account_id": account})
    assert (publish["trace_id"], publish["parent"]) == (trace_id, parent_id)
    assert (publish["attrs"]["herald.events"], publish["attrs"]["herald.deliveries"]) == (1, 2)
    [fanout] = [s for s in otlp.named("herald.fanout") if s["parent"] == publish["span_id"]]
    assert fanout["trace_id"] == trace_id

    attempts = {
        s["attrs"]["http.response.status_code"]: s
        for s in otlp.named("herald.attempt", **{"herald.event_id": event_id})
    }
    assert set(attempts) == {200, 500}
    for s in attempts.values():
        assert (s["trace_id"], s["parent"]) == (trace_id, publish["span_id"])
        assert s["attrs"]["url.origin"] == receiver.url("").rstrip("/")
        assert s["attrs"]["herald.delivery_id"].startswith("dlv_")
        assert s["duration_ns"] > 0
    assert attempts[200]["status"] == 0  # unset
    assert attempts[500]["status"] == 2  # error
    assert attempts[500]["attrs"]["error.type"] == "bad_status"
    delivered = {d["subscription_id"]: d["id"] for d in api.deliveries(account)}
    assert {s["attrs"]["herald.delivery_id"] for s in attempts.values()} == set(delivered.values())
    assert otlp.named("herald.claim")
    # The subscription that asked for it got the attempt span's traceparent; the other did not.
    assert sent.headers["traceparent"] == f"00-{trace_id}-{attempts[200]['span_id']}-01"
    assert "traceparent" not in not_asked.headers


def test_tracing_is_off_unless_the_otel_variables_ask() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_SERVICE_NAME": "x"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"})
