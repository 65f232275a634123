"""Lanes: one per endpoint host (scheme://host:port), with its own concurrency and a backlog sized by how
fast it drains; what a full lane cannot hold is handed back to the queue, paced to that drain rate. So one
slow endpoint never holds up the others, nor makes them pay for re-claiming its overflow over and over.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from herald.domain.models import ClaimedDelivery, Endpoint

LANE_FULL_DELAY = 0.25
# A lane whose sends have all been out this long without one finishing is stalled (see Lane.drain_rate).
STALL_MIN = 0.5
OVERFLOW_DELAY_CAP = 300.0
# A lane may hold what its endpoint drains in this long (but at least 4x its concurrency): a fast endpoint
# keeps a deep backlog and no claimed row is handed back, a slow one holds little of the worker's capacity.
LANE_BACKLOG_SECONDS = 0.5


@dataclass
class Lane:
    active: int = 0
    waiting: deque[tuple[ClaimedDelivery, Endpoint]] = field(default_factory=deque)
    rate: float = 0.0  # completions per second over the last full window
    promised: float = 0.0  # when the last delivery handed back by a full lane was told to come back
    clock: Callable[[], float] = time.monotonic
    _completed: int = 0
    _window_start: float = 0.0
    _progress: float = 0.0  # the last completion, or the first send of a busy spell

    def __post_init__(self) -> None:
        self._window_start = self._progress = self.clock()

    def started(self) -> None:
        if self.active == 0:
            self._progress = self.clock()
        self.active += 1

    def completed(self) -> None:
        self.active -= 1
        if not self.waiting:
            self.promised = 0.0  # drained: what was handed back no longer queues ahead of new overflow
        self._completed += 1
        now = self._progress = self.clock()
        if now - self._window_start >= 1.0:
            self.rate = self._completed / (now - self._window_start)
            self._completed, self._window_start = 0, now

    def drain_rate(self) -> float:
        """Completions per second to count on: the last window's rate, but no more than a stall allows —
        with sends out and none finished for s seconds, at most `active / s`. So an endpoint that is slow
        from its first request (nothing measured yet), or that stalls after being fast, gets its overflow
        paced to what it really takes, not handed back every 0.25 s."""
        stalled = self.clock() - self._progress
        if self.active and stalled >= STALL_MIN:
            bound = self.active / stalled
            return bound if self.rate <= 0 else min(self.rate, bound)
        return self.rate

    def backlog_limit(self, concurrency: int) -> int:
        return max(4 * concurrency, int(self.rate * LANE_BACKLOG_SECONDS))

    def full(self, concurrency: int) -> bool:
        return len(self.waiting) >= self.backlog_limit(concurrency)

    def wants_more(self, concurrency: int) -> bool:
        """Below half its backlog: time to claim for it again. (Between full and half full, what is due
        for it is held: a lane that flipped between full and not full at each completion would have the
        next claim bring its overflow through the worker every time.)"""
        return len(self.waiting) < self.backlog_limit(concurrency) // 2

    def overflow_delay(self, now: float) -> float:
        """When a delivery beyond a full backlog should come back: when the lane will have drained what it
        holds and what was handed back before it, one completion apart. So a slow endpoint's overflow is
        claimed again about as fast as the endpoint takes it, not every 0.25 s."""
        rate = self.drain_rate()
        if rate <= 0:  # not measured yet
            return LANE_FULL_DELAY
        at = self.next_turn(now, rate)
        self.promised = max(self.promised, at)
        return at - now

    def next_turn(self, now: float, rate: float) -> float:
        """When the next delivery (or batch: a held subscription's rows, see `Dispatcher._holds`) handed
        back should come back: after what the lane holds and what was handed back before it."""
        at = max(now + len(self.waiting) / rate, self.promised + 1.0 / rate)
        return min(now + OVERFLOW_DELAY_CAP, max(now + LANE_FULL_DELAY, at))

    def handed_back(self, at: float, count: int) -> None:
        """`count` rows were handed back for `at`: the next ones queue behind them."""
        rate = self.drain_rate()
        if rate > 0:
            self.promised = max(self.promised, at + (count - 1) / rate)


def lane_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
