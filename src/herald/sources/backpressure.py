"""Back-pressure: sources stop reading while Herald's queue holds more than a bound, and resume by
themselves once it has drained below a lower mark (hysteresis, so they do not flap at the bound)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from herald.sources import metrics

log = logging.getLogger("herald.sources")

RESUME_FRACTION = 0.8


class Gate:
    def __init__(self, depth: Callable[[], Awaitable[int]], limit: int, interval: float = 1.0) -> None:
        self.depth = depth
        self.limit = limit
        self.interval = interval
        self.open = asyncio.Event()
        self.open.set()

    def update(self, depth: int) -> None:
        if self.open.is_set() and depth > self.limit:
            log.warning("queue holds %d deliveries (bound %d): sources pause", depth, self.limit)
            self.open.clear()
        elif not self.open.is_set() and depth <= self.limit * RESUME_FRACTION:
            log.info("queue down to %d deliveries: sources resume", depth)
            self.open.set()
        metrics.PAUSED.set(0 if self.open.is_set() else 1)

    async def watch(self) -> None:
        """Check the queue depth forever (a failure keeps the gate as it was)."""
        while True:
            try:
                self.update(await self.depth())
            except Exception:
                log.warning("reading the queue depth failed; back-pressure unchanged", exc_info=True)
            await asyncio.sleep(self.interval)
