"""OpenTelemetry traces, configured by the standard OTEL_* variables and exported over OTLP/HTTP.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and OTEL_SDK_DISABLED
is not true): then every helper here is a no-op costing a boolean check. The exporter reads the rest of the
standard variables itself (headers, timeout, compression; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_BSP_* for batching).

Spans: `herald.publish` (its parent is the request's `traceparent`), `herald.fanout` (the publish
transaction), `herald.claim` (each claimed batch), `herald.attempt` (each HTTP try; its parent is the
publish span of its event, kept in `event_traces`), `herald.record` (each recorder flush) and `herald.job`
(each recover/replay batch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from herald import __version__
from herald.domain.models import AttemptRecord, ClaimedDelivery
from herald.store import traces
from herald.store.database import Database
from herald.store.publish import NewEvent, PublishResult, publish

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None


def wanted(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* environment asks for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure(service: str = "herald") -> bool:
    """Start exporting when the environment asks for it (once per process). True when tracing is on."""
    global _tracer, _provider
    if _tracer is not None:
        return True
    if not wanted():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    attributes = {"service.version": __version__}
    if "OTEL_SERVICE_NAME" not in os.environ and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = service  # the SDK's own default would be "unknown_service"
    _provider = TracerProvider(resource=Resource.create(attributes))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _tracer = _provider.get_tracer("herald", __version__)
    return True


def enabled() -> bool:
    return _tracer is not None


def shutdown() -> None:
    """Flush what is buffered (at the end of a process; the SDK also does it at exit)."""
    if _provider is not None:
        _provider.shutdown()


@contextmanager
def span(
    name: str, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any
) -> Iterator[Span | None]:
    """A span around a block, child of the current span, or of `parent` (a W3C traceparent) when given."""
    if _tracer is None:
        yield None
        return
    context = _propagator.extract({"traceparent": parent}) if parent else None
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=_clean(attributes)
    ) as current:
        yield current


def maybe_span(name: str, **attributes: Any) -> Any:
    """`span` when tracing is on, else a context manager that does nothing (no generator per call)."""
    return span(name, **attributes) if _tracer is not None else nullcontext()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to store with an event or send with a webhook."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def finished_span(name: str, start: float, end: float, **attributes: Any) -> None:
    """A span for something already done (a claimed batch), from its start and end times (epoch s)."""
    if _tracer is None:
        return
    s = _tracer.start_span(name, start_time=int(start * 1e9), attributes=_clean(attributes))
    s.end(end_time=int(end * 1e9))


def start_attempt(claimed: ClaimedDelivery, url: str, parent: str | None) -> Span | None:
    """The `herald.attempt` span of one HTTP try, started before the send (so that its traceparent can go
    with the request), child of its event's publish span when known. None when tracing is off."""
    if _tracer is None:
        return None
    context = _propagator.extract({"traceparent": parent}) if parent else None
    return _tracer.start_span(
        "herald.attempt",
        context=context,
        kind=SpanKind.CLIENT,
        attributes=_clean(
            {
                "herald.delivery_id": claimed.delivery_id,
                "herald.event_id": claimed.event_id,
                "herald.event_type": claimed.event_type,
                "herald.account_id": claimed.account_id,
                "herald.subscription_id": claimed.subscription_id,
                "herald.attempt": claimed.attempts + 1,
                "url.origin": _origin(url),  # never the path or query: they may hold secrets
            }
        ),
    )


def traceparent_of(span: Span) -> str:
    """The W3C traceparent naming `span` as the parent, for the outgoing request."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier["traceparent"]


def end_attempt(span: Span | None, record: AttemptRecord) -> None:
    if span is None:
        return
    span.set_attributes(
        _clean(
            {
                "herald.duration_ms": record.duration_ms,
                "http.response.status_code": record.status_code,
                "error.type": record.error_kind.value if record.error_kind else None,
            }
        )
    )
    if not record.succeeded:
        span.set_status(Status(StatusCode.ERROR, record.error_message or "failed"))
    span.end()


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else None


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


async def traced_publish(
    db: Database, account_id: str, batch: list[NewEvent], traceparent: str | None
) -> PublishResult:
    """`publish` inside a `herald.publish` span (child of the producer's `traceparent`), the trace context
    saved first so that every attempt of these events is its child. Every publish path (API, stream
    sources) calls this one function."""
    if _tracer is None:
        return await publish(db, account_id, batch)
    attributes = {"herald.account_id": account_id, "herald.events": len(batch)}
    with span("herald.publish", parent=traceparent, kind=SpanKind.SERVER, **attributes) as current:
        mine = current_traceparent()
        if mine is not None:
            await traces.save(db, account_id, [e.id for e in batch], mine)
        with span("herald.fanout"):
            result = await publish(db, account_id, batch)
        if current is not None:
            current.set_attribute("herald.deliveries", result.deliveries)
            current.set_attribute("herald.duplicates", len(result.duplicates))
    return result
