"""The dispatcher's side of LivePerson TTL installations: report attempt outcomes after each recorder
flush, and run the time-driven transitions now and then. Everything that changes state is in
herald.store.ttl (transactional, safe with any number of workers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from herald.domain.models import AttemptRecord
from herald.domain.ttl import counts_as_failure
from herald.store import ttl as store
from herald.store.database import Database

log = logging.getLogger("herald.dispatch.ttl")


class TtlWatch:
    def __init__(
        self,
        db: Database,
        drain_period: float,
        interval: float,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.drain_period = drain_period
        self.interval = interval
        self.on_change = on_change  # wake the claim loop: released events are due now
        # (account, subscription) pairs whose installation is not UP, refreshed every `interval`: a
        # success elsewhere changes nothing, so the common case costs no query at all.
        self.unsettled: set[tuple[str, str]] = set()

    async def observe(self, records: Sequence[AttemptRecord]) -> None:
        """After a flush: the outcomes of TTL deliveries may move their installations (no query when the
        batch holds none, so other deliveries pay nothing)."""
        outcomes = [
            o
            for o in store.outcomes_of(records)
            if (not o.succeeded and counts_as_failure(o.max_retries))
            or (o.succeeded and (o.account_id, o.subscription_id) in self.unsettled)
        ]
        if not outcomes:
            return
        try:
            moved = await store.report(self.db, outcomes, self.drain_period)
        except Exception:
            # The next outcome of the installation reports again; its deliveries are safe in the queue.
            log.exception("reporting %d TTL outcomes failed", len(outcomes))
            return
        self._changed(moved)
        if any(t.new != "UP" for t in moved):
            self.unsettled.update((o.account_id, o.subscription_id) for o in outcomes)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                self._changed(await store.tick(self.db, self.drain_period))
                self.unsettled = await store.unsettled(self.db)
            except Exception:
                log.exception("TTL installation check failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    def _changed(self, moved: list[store.Transition]) -> None:
        for t in moved:
            log.info("installation %s: %s -> %s (%s)", t.installation_id, t.old, t.new, t.reason)
        if moved and self.on_change is not None:
            self.on_change()
