"""Retry policies: when, if ever, the next attempt happens."""

from __future__ import annotations

import random

import pytest

from herald.domain import retry as retry_module
from herald.domain.retry import (
    LIVEPERSON_TTL_BACKOFF_CAP,
    RETRY_AFTER_CAP,
    STANDARD_SCHEDULE,
    FixedIntervalRetry,
    NoRetry,
    ScheduleRetry,
    TimeToLiveRetry,
    apply_retry_after,
)


@pytest.mark.parametrize("attempts_made", range(1, len(STANDARD_SCHEDULE) + 1))
def test_schedule_jitter_within_twenty_percent(attempts_made: int) -> None:
    base = STANDARD_SCHEDULE[attempts_made - 1]
    policy = ScheduleRetry()
    rng_state = random.getstate()
    try:
        random.seed(attempts_made)
        delays = [policy.next_delay(attempts_made, 0.0) for _ in range(300)]
    finally:
        random.setstate(rng_state)
    assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
    assert len(set(delays)) > 1  # jitter is applied
    assert min(delays) < base < max(delays)  # spread on both sides


@pytest.mark.parametrize("bound", [0.0, 1.0])
def test_schedule_jitter_extremes(monkeypatch: pytest.MonkeyPatch, bound: float) -> None:
    monkeypatch.setattr(retry_module.random, "uniform", lambda lo, hi: lo + (hi - lo) * bound)
    delay = ScheduleRetry((100.0,), jitter=0.2).next_delay(1, 0.0)
    assert delay == pytest.approx(80.0 if bound == 0.0 else 120.0)


def test_schedule_default_exhausts_after_schedule_length() -> None:
    policy = ScheduleRetry(jitter=0.0)
    assert [policy.next_delay(n, 0.0) for n in range(1, 8)] == list(STANDARD_SCHEDULE)
    assert policy.next_delay(8, 0.0) is None
    assert policy.next_delay(20, 0.0) is None


def test_schedule_max_retries_truncates() -> None:
    policy = ScheduleRetry(max_retries=2, jitter=0.0)
    assert policy.next_delay(1, 0.0) == 5
    assert policy.next_delay(2, 0.0) == 300
    assert policy.next_delay(3, 0.0) is None


def test_schedule_max_retries_zero_means_one_attempt() -> None:
    assert ScheduleRetry(max_retries=0).next_delay(1, 0.0) is None


def test_schedule_max_retries_extends_by_repeating_last_delay() -> None:
    policy = ScheduleRetry(schedule=(1.0, 2.0), max_retries=5, jitter=0.0)
    assert [policy.next_delay(n, 0.0) for n in range(1, 6)] == [1.0, 2.0, 2.0, 2.0, 2.0]
    assert policy.next_delay(6, 0.0) is None


def test_fixed_interval() -> None:
    policy = FixedIntervalRetry(max_retries=3, interval=30.0)
    assert [policy.next_delay(n, 1e9) for n in (1, 2, 3)] == [30.0, 30.0, 30.0]
    assert policy.next_delay(4, 0.0) is None
    assert FixedIntervalRetry().next_delay(1, 0.0) is None


def test_time_to_live_backoff_doubles_and_caps() -> None:
    policy = TimeToLiveRetry(retention_time=1_000_000)
    delays = [policy.next_delay(n, 0.0) for n in range(1, 12)]
    assert delays[:8] == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    assert delays[8:] == [LIVEPERSON_TTL_BACKOFF_CAP] * 3
    assert LIVEPERSON_TTL_BACKOFF_CAP == 300.0


def test_time_to_live_stops_past_retention() -> None:
    policy = TimeToLiveRetry(retention_time=10)
    assert policy.next_delay(1, 0.0) == 2.0
    assert policy.next_delay(3, 2.0) == 8.0  # lands exactly at the retention limit
    assert policy.next_delay(3, 2.5) is None  # would land past it
    assert policy.next_delay(1, 11.0) is None


def test_no_retry() -> None:
    assert NoRetry().next_delay(1, 0.0) is None
    assert NoRetry().next_delay(0, 0.0) is None


def test_apply_retry_after() -> None:
    assert apply_retry_after(None, 60.0) is None  # giving up stays giving up
    assert apply_retry_after(5.0, None) == 5.0
    assert apply_retry_after(5.0, 60.0) == 60.0  # wait at least as long as asked
    assert apply_retry_after(120.0, 60.0) == 120.0  # never shorter than our own delay
    assert apply_retry_after(5.0, 10 * RETRY_AFTER_CAP) == RETRY_AFTER_CAP


def test_ttl_backoff_doubles_from_its_first_delay_up_to_the_cap() -> None:
    policy = TimeToLiveRetry(retention_time=10**6, first=2.0)
    assert [policy.next_delay(n, 0.0) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert policy.next_delay(10_000, 0.0) == LIVEPERSON_TTL_BACKOFF_CAP  # no overflow on long outages
    fast = TimeToLiveRetry(retention_time=10**6, first=0.25)
    assert [fast.next_delay(n, 0.0) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
