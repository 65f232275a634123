"""Endpoint health: from a subscription's persisted counters and a batch of attempt outcomes, the new
counters and what changed (failing, recovered, disabled). Pure: the recorder feeds it inside its batch
transaction, so every worker process shares one view through the subscription row.

Definitions (docs/endpoint-health.md):
- failing: `failing_after` consecutive failed attempts (any delivery) — announced once per streak.
- recovered: the first successful attempt after the endpoint was announced failing.
- slow: the endpoint's smoothed response time (EWMA over responses and read timeouts) has stayed above
  `slow_threshold_ms` for at least `slow_window` seconds and `slow_min_attempts` responses → disabled.
- failing for too long: no success for `failure_window` seconds since the first failure of the streak, or
  `failure_limit` consecutive failures (0 turns either off) → disabled.
- 410 Gone → disabled at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

# A disabled endpoint's queued deliveries are parked this far in the future, so no worker claims them again
# and again; enabling brings back every row parked past UNPARK_AFTER (no retry is ever scheduled that far).
PARK_SECONDS = 10 * 365 * 86400.0
UNPARK_AFTER = 5 * 365 * 86400.0


class Trigger(StrEnum):
    MANUAL = "manual"
    GONE = "gone"
    SLOW = "slow"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    slow_threshold_ms: float = 2500.0
    slow_window: float = 120.0
    slow_min_attempts: int = 3
    ewma_alpha: float = 0.3
    failure_window: float = 5 * 86400.0
    failure_limit: int = 0
    failing_after: int = 4


@dataclass(slots=True)
class HealthState:
    """The persisted columns of one subscription (`observe` works on a copy)."""

    enabled: bool = True
    consecutive_failures: int = 0
    first_failure_at: float | None = None
    last_failure_at: float | None = None
    last_success_at: float | None = None
    failing: bool = False
    latency_ewma: float | None = None
    slow_since: float | None = None
    slow_attempts: int = 0
    disabled_reason: str | None = None
    disabled_at: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    at: float
    succeeded: bool
    status_code: int | None
    latency_ms: float | None  # a response's time (or a read timeout's); None for connect-level failures


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str  # "failing" | "recovered" | "disabled"
    index: int  # the observation that caused it
    trigger: Trigger | None = None
    reason: str | None = None
    consecutive_failures: int = 0  # the streak at that moment


def observe(
    state: HealthState, observations: list[Observation], policy: HealthPolicy
) -> tuple[HealthState, list[Notice]]:
    """Fold the observations (in attempt order) into a copy of the state (one copy per batch: this runs in
    the recorder's transaction for every attempt)."""
    s = replace(state)
    notices: list[Notice] = []
    for i, o in enumerate(observations):
        disable: tuple[Trigger, str] | None = None
        if o.succeeded:
            if s.failing:
                notices.append(Notice("recovered", i))
            s.consecutive_failures, s.first_failure_at, s.failing, s.last_success_at = 0, None, False, o.at
        else:
            n = s.consecutive_failures = s.consecutive_failures + 1
            first = s.first_failure_at = s.first_failure_at if s.first_failure_at is not None else o.at
            s.last_failure_at = o.at
            if not s.failing and policy.failing_after > 0 and n >= policy.failing_after:
                s.failing = True
                notices.append(Notice("failing", i, consecutive_failures=n))
            if o.status_code == 410:
                disable = (Trigger.GONE, "the endpoint answered 410 Gone")
            elif policy.failure_limit > 0 and n >= policy.failure_limit:
                disable = (Trigger.FAILING, f"{n} consecutive failed attempts")
            elif policy.failure_window > 0 and o.at - first >= policy.failure_window:
                disable = (Trigger.FAILING, f"no successful attempt for {_span(o.at - first)}")
        if o.latency_ms is not None:
            ewma = s.latency_ewma = (
                o.latency_ms
                if s.latency_ewma is None
                else policy.ewma_alpha * o.latency_ms + (1 - policy.ewma_alpha) * s.latency_ewma
            )
            if ewma > policy.slow_threshold_ms:
                since = s.slow_since = s.slow_since if s.slow_since is not None else o.at
                s.slow_attempts += 1
                if (
                    disable is None
                    and o.at - since >= policy.slow_window
                    and s.slow_attempts >= policy.slow_min_attempts
                ):
                    disable = (
                        Trigger.SLOW,
                        f"responses slower than {policy.slow_threshold_ms / 1000:g} s "
                        f"for {_span(o.at - since)}",
                    )
            else:
                s.slow_since, s.slow_attempts = None, 0
        if disable is not None and s.enabled:
            trigger, reason = disable
            s.enabled, s.disabled_reason, s.disabled_at = False, f"{trigger.value}: {reason}", o.at
            notices.append(Notice("disabled", i, trigger, s.disabled_reason))
    return s, notices


def enabled_again(state: HealthState) -> HealthState:
    """Enabling starts the endpoint's health afresh (its history stays in the attempt log)."""
    return HealthState(last_success_at=state.last_success_at, latency_ewma=None)


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.0f} s"
