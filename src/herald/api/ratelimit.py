"""Rate limiting of failed authentication, per client address.

In memory and per process: every API process counts on its own, so with N processes behind a balancer a
client gets up to N * limit tries per window. Good enough to make guessing tokens or client secrets
pointless; put a shared limiter in front (the proxy) when that is not enough.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    """After `limit` failures from one address within `window` seconds, refuse that address until the
    oldest of those failures leaves the window."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float] | None:
        seen = self._failures.get(address)
        if seen is None:
            return None
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if not seen:
            del self._failures[address]
            return None
        return seen

    def retry_after(self, address: str) -> int | None:
        """Seconds the address must wait, or None when it may try now."""
        if self.limit <= 0:
            return None
        now = self.clock()
        seen = self._recent(address, now)
        if seen is None or len(seen) < self.limit:
            return None
        return max(1, math.ceil(seen[0] + self.window - now))

    def failed(self, address: str) -> None:
        if self.limit <= 0:
            return
        now = self.clock()
        seen = self._recent(address, now)
        if seen is None:
            if len(self._failures) >= self.max_addresses:
                self._prune(now)
            seen = self._failures.setdefault(address, deque())
        seen.append(now)
        while len(seen) > self.limit:
            seen.popleft()

    def _prune(self, now: float) -> None:
        for address in list(self._failures):
            self._recent(address, now)
        if len(self._failures) >= self.max_addresses:  # still full of live entries: forget the oldest
            oldest = min(self._failures, key=lambda a: self._failures[a][-1])
            del self._failures[oldest]
