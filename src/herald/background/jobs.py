"""The job runner: claims recover/replay jobs under a lease and works them in bounded batches.

Runs in `herald serve` and every `herald worker`; any number of processes may run one (PostgreSQL: the
claim skips locked rows). Each batch is its own short transaction, with a pause between batches, so a
long job never holds SQLite's single writer (or PostgreSQL row locks) for long and never blocks delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from herald import tracing
from herald.config import Settings
from herald.domain.filters import FilterError
from herald.store import jobs as store
from herald.store.database import Database
from herald.store.errors import StoreError
from herald.store.jobs import ClaimedJob, JobKind, LeaseLost
from herald.store.recovery import Step, recover_step, replay_step

log = logging.getLogger("herald.jobs")

StepFn = Callable[[Database, ClaimedJob, int, float], Awaitable[Step]]
STEPS: dict[JobKind, StepFn] = {JobKind.RECOVER: recover_step, JobKind.REPLAY: replay_step}

# Between batches: lets the dispatcher's writes through first on SQLite's single writer.
BATCH_PAUSE = 0.01
# A long job says how far it got this often (seconds) in the readable log.
PROGRESS_EVERY = 5.0


class JobRunner:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.batch = settings.job_batch
        self.lease_seconds = settings.job_lease_seconds
        self.poll_interval = settings.job_poll_interval

    async def run_forever(self) -> None:
        while True:
            try:
                ran = await self.run_once()
            except Exception:
                log.exception("claiming a job failed; will try again")
                ran = False
            if not ran:
                await asyncio.sleep(self.poll_interval)

    async def run_once(self) -> bool:
        """Claim one due job and work it to the end (or until its lease is lost). False when none was due."""
        job = await store.claim(self.db, self.lease_seconds)
        if job is None:
            return False
        await self.work(job)
        return True

    async def work(self, job: ClaimedJob, max_batches: int | None = None) -> None:
        """Run batches until the job finishes (or `max_batches`, for tests that stop a job halfway)."""
        step = STEPS[job.kind]
        batches = 0
        started = time.monotonic()
        fields = {"job_id": job.id, "subscription_id": job.subscription_id, "account_id": job.account_id}
        log.info("job %s (%s) started for subscription %s", job.id, job.kind, job.subscription_id,
                 extra=fields)  # fmt: skip
        next_progress = started + PROGRESS_EVERY
        try:
            while max_batches is None or batches < max_batches:
                attributes = {"herald.job_id": job.id, "herald.job_kind": str(job.kind)}
                with tracing.maybe_span("herald.job", **attributes):
                    result = await step(self.db, job, self.batch, self.lease_seconds)
                batches += 1
                if result.finished:
                    log.info(
                        "job %s (%s) finished: %d batches in %.1fs", job.id, job.kind, batches,
                        time.monotonic() - started, extra=fields | {"total": result.total},
                    )  # fmt: skip
                    return
                job = replace(job, cursor=result.cursor, total=result.total)
                if (now := time.monotonic()) >= next_progress:
                    next_progress = now + PROGRESS_EVERY
                    log.info(
                        "job %s (%s): %d batches of up to %d done, %s deliveries in its window",
                        job.id, job.kind, batches, self.batch, "?" if job.total is None else job.total,
                        extra=fields | {"done": batches * self.batch, "total": job.total},
                    )  # fmt: skip
                await asyncio.sleep(BATCH_PAUSE)
        except LeaseLost:
            log.warning("job %s: lease lost to another process; leaving it to that one", job.id)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            # The job's owner reads `error`: explain our own refusals, keep internals in the server log.
            reason = (
                str(exc)
                if isinstance(exc, FilterError | StoreError)
                else "internal error; see the server log"
            )
            if await store.fail(self.db, job, reason):
                log.error("job %s failed %d times; giving up", job.id, store.MAX_TRIES)
