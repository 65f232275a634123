"""Prometheus metrics, shared by the API and the dispatcher of one process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter("herald_events_published", "Events accepted by publish (duplicates excluded)")
DELIVERIES_CREATED = Counter("herald_deliveries_created", "Deliveries queued by publish fan-out")
DELIVERIES_DELIVERED = Counter("herald_deliveries_delivered", "Deliveries that succeeded")
DELIVERIES_FAILED = Counter("herald_deliveries_failed", "Deliveries that exhausted their retries (dead)")
DELIVERIES_DEFERRED = Counter(
    "herald_deliveries_deferred",
    "Deliveries handed back to the queue without an attempt, by reason: held (in the claim itself: the "
    "endpoint's lane is full or its breaker open), lane_full, paced (rate limit, breaker, concurrency cap), "
    "disabled",
    ["reason"],
)
DEFERRED_HELD, DEFERRED_LANE_FULL, DEFERRED_PACED, DEFERRED_DISABLED = (
    DELIVERIES_DEFERRED.labels(reason) for reason in ("held", "lane_full", "paced", "disabled")
)
ATTEMPTS = Counter("herald_attempts", "HTTP attempts by outcome", ["outcome"])
ATTEMPT_LATENCY = Histogram(
    "herald_attempt_duration_seconds",
    "Duration of HTTP attempts",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("herald_queue_depth", "Deliveries waiting in the queue (due or scheduled)")
