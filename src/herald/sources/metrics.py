"""Per-source figures for /metrics: messages by outcome, errors, lag, paused by back-pressure."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from herald import metrics as herald_metrics
from herald.store import sources as store
from herald.store.database import Database

MESSAGES = Counter(
    "herald_source_messages",
    "Messages a source consumed, by outcome: event (a new event), duplicate (an event already known), "
    "dead_letter (poison, kept with its reason)",
    ["source", "outcome"],
)
ERRORS = Counter(
    "herald_source_errors", "Failures reading from or committing for a source (it retries)", ["source"]
)
LAG = Gauge("herald_source_lag", "Messages on the bus not yet consumed by the source's group", ["source"])
DEAD_LETTERS = Gauge(
    "herald_source_dead_letters", "Dead letters kept per source (read from the database)", ["source"]
)
PAUSED = Gauge(
    "herald_source_paused", "1 while sources stop reading because Herald's queue is over the bound"
)


def observe(source: str, created: int, duplicates: int, dead_letters: int) -> None:
    MESSAGES.labels(source, "event").inc(created)
    MESSAGES.labels(source, "duplicate").inc(duplicates)
    MESSAGES.labels(source, "dead_letter").inc(dead_letters)
    herald_metrics.EVENTS_PUBLISHED.inc(created)


def error(source: str) -> None:
    ERRORS.labels(source).inc()


async def refresh(db: Database) -> None:
    for name, count in (await store.dead_letter_counts(db)).items():
        DEAD_LETTERS.labels(name).set(count)
