"""Retention: prune payloads, the delivery log and finished jobs on a timer (see store/retention.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from herald.config import Settings
from herald.store import retention as store
from herald.store.database import Database

log = logging.getLogger("herald.retention")

DAY = 86400.0
# Between batches: other writers (delivery first) get the database in between.
BATCH_PAUSE = 0.05


@dataclass(slots=True)
class Pruned:
    events: int = 0
    deliveries: int = 0
    jobs: int = 0


class RetentionSweeper:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.payload_days = settings.retention_payload_days
        self.log_days = settings.retention_log_days
        self.interval = settings.retention_interval
        self.batch = settings.retention_batch

    async def run_forever(self) -> None:
        while True:
            try:
                pruned = await self.sweep()
                if pruned.events or pruned.deliveries or pruned.jobs:
                    log.info(
                        "retention pruned %d events, %d deliveries (with their attempts), %d jobs",
                        pruned.events,
                        pruned.deliveries,
                        pruned.jobs,
                    )
            except Exception:
                log.exception("retention sweep failed; will try again")
            await asyncio.sleep(self.interval)

    async def sweep(self, now: float | None = None) -> Pruned:
        """One pass: every batch that is due, oldest rows first. A period of 0 keeps those rows forever."""
        now = time.time() if now is None else now
        pruned = Pruned()
        if self.log_days > 0:
            cutoff = now - self.log_days * DAY
            pruned.deliveries = await self._drain(store.prune_deliveries, cutoff)
            pruned.jobs = await self._drain(store.prune_jobs, cutoff)
        if self.payload_days > 0:
            pruned.events = await self._drain(store.prune_events, now - self.payload_days * DAY)
        return pruned

    async def _drain(self, prune: Callable[[Database, float, int], Awaitable[int]], cutoff: float) -> int:
        total = 0
        while True:
            n = await prune(self.db, cutoff, self.batch)
            total += n
            if n < self.batch:
                return total
            await asyncio.sleep(BATCH_PAUSE)
