"""A circuit breaker per endpoint: after `threshold` consecutive failures it opens (nothing is sent; the
deliveries are handed back without using an attempt); after `cooldown` seconds one probe goes through
(half-open); its success closes the breaker, its failure opens it for another cool-down.

Each worker keeps its own breakers, seeded from the failure streak all workers share through the
subscription row (store/health.py), so a breaker opened by one worker's failures holds in the others too
(within the endpoint cache's refresh). Each worker may send its own probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def state_of(consecutive_failures: int, last_failure_at: float | None, threshold: int, cooldown: float,
             now: float) -> BreakerState:  # fmt: skip
    """The breaker as the shared counters show it (the health API reports this)."""
    if threshold <= 0 or consecutive_failures < threshold or last_failure_at is None:
        return BreakerState.CLOSED
    return BreakerState.OPEN if now < last_failure_at + cooldown else BreakerState.HALF_OPEN


@dataclass(slots=True)
class Breaker:
    threshold: int
    cooldown: float
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_success_at: float = 0.0

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.probing or now >= self.opened_at + self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: float) -> float | None:
        """None: send now. Otherwise how many seconds to hold the delivery back."""
        wait = self.wait(now)
        if wait is None and self.opened_at is not None:
            self.probing = True  # this one is the probe; the probe is out, its outcome decides
        return wait

    def wait(self, now: float) -> float | None:
        """What `allow` would answer a delivery other than a probe, without taking the probe: None while
        deliveries may go (closed, or open and due for its probe)."""
        if self.opened_at is None:
            return None
        if self.probing:
            return self.cooldown
        remaining = self.opened_at + self.cooldown - now
        return remaining if remaining > 0 else None

    def undo(self) -> None:
        """An allowed send did not happen after all (handed back): a probe may go again."""
        self.probing = False

    def success(self, now: float) -> None:
        self.failures, self.opened_at, self.probing, self.last_success_at = 0, None, False, now

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.probing:
            self.opened_at, self.probing = now, False
        elif self.threshold > 0 and self.failures >= self.threshold and self.opened_at is None:
            self.opened_at = now

    def seed(self, consecutive_failures: int, last_failure_at: float | None) -> None:
        """Take in the streak other workers recorded (newer than our own last success)."""
        if (
            self.threshold <= 0
            or self.opened_at is not None
            or last_failure_at is None
            or last_failure_at <= self.last_success_at
            or consecutive_failures < self.threshold
        ):
            return
        self.failures = max(self.failures, consecutive_failures)
        self.opened_at = last_failure_at
