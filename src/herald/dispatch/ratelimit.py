"""Per-endpoint pacing in one dispatcher process: a token bucket (deliveries per second with a burst) and a
throttle that 429 / 502 / 504 answers switch on (the endpoint's concurrency and rate are halved, down to
one at a time, for `seconds`)."""

from __future__ import annotations

from dataclasses import dataclass

THROTTLE_STATUSES = frozenset({429, 502, 504})


def burst_size(rate: float, burst: int | None) -> float:
    """A bucket's size: the configured burst, else one second's worth (at least one)."""
    return float(burst) if burst else max(1.0, rate)


@dataclass(slots=True)
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    updated: float
    promised: float = 0.0  # the latest time a deferred delivery was told to come back

    @classmethod
    def full(cls, rate: float, burst: int | None, now: float) -> TokenBucket:
        size = burst_size(rate, burst)
        return cls(rate=rate, burst=size, tokens=size, updated=now)

    def configure(self, rate: float, burst: int | None) -> None:
        self.rate = rate
        self.burst = burst_size(rate, burst)
        self.tokens = min(self.tokens, self.burst)

    def share(self, tokens: float, now: float) -> None:
        """Hold exactly what was taken from the endpoint's shared bucket (store/rate_tokens.py) for the
        batch at hand."""
        self.tokens, self.updated = min(tokens, self.burst), now

    def take(self, now: float, rate: float | None = None) -> float | None:
        """Take a token: None when one was there, else the seconds until this delivery's turn. Deferred
        deliveries are spread one token apart, so handing back a batch does not bring it all back at once."""
        r = rate or self.rate
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * r)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        at = max(now + (1.0 - self.tokens) / r, self.promised + 1.0 / r)
        self.promised = at
        return at - now

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1.0)


@dataclass(slots=True)
class Throttle:
    seconds: float
    factor: float = 1.0
    until: float = 0.0

    def signal(self, now: float) -> None:
        """The endpoint asked us to slow down (429) or its gateway is struggling (502, 504)."""
        self.factor = max(self.factor / 2.0, 1e-6)
        self.until = now + self.seconds

    def current(self, now: float) -> float:
        if self.factor < 1.0 and now >= self.until:
            self.factor = 1.0
        return self.factor

    def concurrency(self, cap: int, now: float) -> int:
        return max(1, int(cap * self.current(now)))
