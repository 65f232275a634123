"""Collects attempt records and writes them in batches: one transaction per flush, not per delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from herald import tracing
from herald.domain.health import HealthPolicy
from herald.domain.models import AttemptRecord
from herald.store import queue
from herald.store.database import Database

log = logging.getLogger("herald.dispatch")

# Retry a failed flush at least this often: once the database is back, the outcomes must be written before
# their leases run out, or the deliveries are sent again.
MAX_RETRY_DELAY = 1.0


class Recorder:
    def __init__(
        self,
        db: Database,
        flush_interval: float = 0.01,
        max_batch: int = 1000,
        health: HealthPolicy | None = None,
        after_flush: Callable[[Sequence[AttemptRecord]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.health = health  # endpoint health is folded into each batch's transaction
        # Told each batch once it is recorded (the TTL installation watch); must not raise.
        self.after_flush = after_flush
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        # Set after a flush that finished an ordered delivery: the next one of its key is due now.
        self.flushed = asyncio.Event()
        # Cleared while a flush fails (the database is away) and set again once it went through: the
        # dispatcher claims nothing meanwhile.
        self.healthy = asyncio.Event()
        self.healthy.set()
        self._buffer: list[AttemptRecord] = []
        self._pending = asyncio.Event()
        self._closing = False

    def add(self, record: AttemptRecord) -> None:
        self._buffer.append(record)
        self._pending.set()

    async def run(self) -> None:
        while not (self._closing and not self._buffer):
            await self._pending.wait()
            if len(self._buffer) < self.max_batch and not self._closing:
                await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def flush(self) -> None:
        batch, self._buffer = self._buffer[: self.max_batch], self._buffer[self.max_batch :]
        if not self._buffer:
            self._pending.clear()
        unblocks = any(r.claimed.ordering_key is not None and r.next_attempt_at is None for r in batch)
        delay = 0.1
        recorded = batch
        while batch:
            try:
                with tracing.maybe_span("herald.record", **{"herald.attempts": len(batch)}):
                    await queue.record(self.db, batch, self.health)
                batch = []
            except Exception:
                # The database is away: keep the results and try again. If this process dies meanwhile,
                # the leases expire and the deliveries run again (at-least-once).
                self.healthy.clear()
                log.exception("recording %d attempts failed; retrying in %.1fs", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
        self.healthy.set()
        if self.after_flush is not None and recorded:
            await self.after_flush(recorded)
        if unblocks:
            self.flushed.set()

    async def close(self) -> None:
        self._closing = True
        self._pending.set()
