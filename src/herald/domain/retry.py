"""Retry policies: given the attempts made so far, when (if ever) to try again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

# Standard Webhooks / Svix schedule: the delays *between* attempts after the immediate first one.
STANDARD_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
STANDARD_JITTER = 0.2
LIVEPERSON_RETRY_INTERVAL = 30.0
LIVEPERSON_MAX_RETRIES = 5
LIVEPERSON_TTL_MIN, LIVEPERSON_TTL_MAX = 2, 259_200
LIVEPERSON_TTL_BACKOFF = 2.0
LIVEPERSON_TTL_BACKOFF_CAP = 300.0
# LiveChat: up to 3 retries within about a minute.
LIVECHAT_SCHEDULE: tuple[float, ...] = (10, 20, 30)
LIVECHAT_JITTER = 0.1
# A Retry-After header may stretch a delay, but never past this.
RETRY_AFTER_CAP = 86_400.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Operator-tunable timings (HERALD_RETRY_SCHEDULE, HERALD_LIVEPERSON_RETRY_INTERVAL)."""

    schedule: tuple[float, ...] = STANDARD_SCHEDULE
    liveperson_interval: float = LIVEPERSON_RETRY_INTERVAL
    jitter: float = STANDARD_JITTER
    livechat_schedule: tuple[float, ...] = LIVECHAT_SCHEDULE
    ttl_backoff: float = LIVEPERSON_TTL_BACKOFF  # first delay of the time-to-live policy
    # Retry-After (on 429 and 503) is clamped into these bounds (HERALD_RETRY_AFTER_MIN / _MAX).
    retry_after_min: float = 0.0
    retry_after_max: float = RETRY_AFTER_CAP


class RetryPolicy(Protocol):
    def next_delay(self, attempts_made: int, event_age: float) -> float | None:
        """Seconds to wait before the next attempt, or None when the delivery is finished."""


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    """A fixed list of delays with ±jitter; `max_retries` truncates or extends it (repeating the last)."""

    schedule: tuple[float, ...] = STANDARD_SCHEDULE
    max_retries: int | None = None
    jitter: float = STANDARD_JITTER

    def next_delay(self, attempts_made: int, event_age: float) -> float | None:
        retries_done = attempts_made - 1
        limit = len(self.schedule) if self.max_retries is None else self.max_retries
        if retries_done >= limit:
            return None
        base = self.schedule[min(retries_done, len(self.schedule) - 1)]
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True, slots=True)
class FixedIntervalRetry:
    """LivePerson by count: `max_retries` more attempts, a fixed interval apart; then dropped."""

    max_retries: int = 0
    interval: float = LIVEPERSON_RETRY_INTERVAL

    def next_delay(self, attempts_made: int, event_age: float) -> float | None:
        return self.interval if attempts_made - 1 < self.max_retries else None


@dataclass(frozen=True, slots=True)
class TimeToLiveRetry:
    """LivePerson by time to live: 2 s, 4 s, 8 s … capped at 5 min, until the event outlives retention."""

    retention_time: float
    cap: float = LIVEPERSON_TTL_BACKOFF_CAP
    first: float = LIVEPERSON_TTL_BACKOFF

    def next_delay(self, attempts_made: int, event_age: float) -> float | None:
        # min(…, 64) only keeps 2**n small; the cap decides long before.
        delay = min(self.cap, self.first * 2.0 ** min(max(0, attempts_made - 1), 64))
        return delay if event_age + delay <= self.retention_time else None


class NoRetry:
    """Manual resends get exactly one attempt."""

    def next_delay(self, attempts_made: int, event_age: float) -> float | None:
        return None


# The statuses whose Retry-After is honoured (RFC 9110: 503 and 429; 3xx are failures here).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def apply_retry_after(
    delay: float | None,
    retry_after: float | None,
    low: float = 0.0,
    high: float = RETRY_AFTER_CAP,
) -> float | None:
    """Honour a receiver's Retry-After: wait at least that long, clamped to [low, high], unless we were
    giving up."""
    if delay is None or retry_after is None:
        return delay
    return max(delay, min(max(retry_after, low), high))
