"""What a bench run measured, as plain data (the report renders it; `--json` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CeilingResult:
    client: str  # aiohttp | reqwest
    requests: int
    concurrency: int
    seconds: float
    requests_per_s: float
    body_bytes: int
    errors: int
    received: int  # what the receiver counted (should equal requests)
    cpu_us_per_request: float  # the bench process's CPU (all threads) per request


@dataclass
class ThroughputResult:
    events: int
    expected: int  # events * fan-out
    received: int  # distinct deliveries the receiver saw
    duplicates: int
    complete: bool  # every expected delivery arrived and none is still pending in the database
    dead: bool  # some delivery ended dead (retries exhausted)
    publish_seconds: float
    publish_events_per_s: float
    publish_request_ms: dict[str, float]
    delivered_seconds: float  # first publish request → last delivery received
    deliveries_per_s: float  # received / delivered_seconds
    recorded_seconds: float | None  # first publish request → no delivery pending in the database
    recorded_deliveries_per_s: float | None
    latency_ms: dict[str, float]  # publish → delivered, over every delivery
    # CPU from the first publish request until nothing is pending, per delivery received: Herald's
    # processes (API, serve, workers) summed; PostgreSQL's backends of the bench database (None on SQLite).
    herald_cpu_us_per_delivery: float | None = None
    postgres_cpu_us_per_delivery: float | None = None


@dataclass
class LatencyResult:
    rate: int
    duration: float
    events: int
    expected: int
    received: int
    duplicates: int
    complete: bool
    dead: bool
    achieved_rate: float  # events actually published per second
    ticks: int
    late_ticks: int  # ticks sent more than 10 ms after their time (the publisher fell behind)
    saturated_ticks: int  # ticks that waited for a free publish slot
    tick_lag_ms: dict[str, float]
    publish_request_ms: dict[str, float]
    latency_ms: dict[str, float]
    recorded_after_s: float | None  # last delivery received → no delivery pending in the database


@dataclass
class BenchResult:
    herald_version: str
    backend: str
    options: dict[str, Any]
    machine: dict[str, Any]
    ceiling: CeilingResult | None = None  # the bare aiohttp client: the reference the ratio divides by
    native_ceiling: CeilingResult | None = None  # the bare pyreqwest client, in the same run
    throughput: ThroughputResult | None = None
    ratio: float | None = None  # Herald deliveries/s ÷ ceiling requests/s
    latency: LatencyResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        parts = [p for p in (self.throughput, self.latency) if p is not None]
        return all(p.complete and not p.dead for p in parts)
