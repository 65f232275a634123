"""The dispatcher: claim due deliveries in batches, send each over its endpoint's lane, record outcomes.

Isolation: every endpoint (scheme://host:port) has a lane (dispatch/lanes.py) with its own concurrency cap
and a backlog sized by how fast that endpoint drains. A lane that is full hands further deliveries back to
the queue instead of holding the worker's capacity, and while it stays full the claim itself hands its
subscriptions' rows back, so one slow endpoint never stalls the others nor costs them much.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import replace

from herald import metrics, tracing
from herald.activity import ActivityLog
from herald.config import Settings
from herald.dispatch.control import EndpointControl
from herald.dispatch.endpoints import EndpointCache
from herald.dispatch.lanes import Lane, lane_key
from herald.dispatch.mtls import MtlsRouter
from herald.dispatch.outcome import decide, internal_failure
from herald.dispatch.recorder import Recorder
from herald.dispatch.transport import Transport
from herald.dispatch.ttl import TtlWatch
from herald.domain.models import ClaimedDelivery, DeliveryStatus, Endpoint
from herald.domain.profiles import get_profile
from herald.store import queue, rate_tokens, traces
from herald.store.database import Database

log = logging.getLogger("herald.dispatch")

# Seconds before a disabled endpoint's deliveries are looked at again. Disabling parks its queue rows and
# enabling brings them back at once (store/endpoint_health.py), so only stragglers come here.
DISABLED_RECHECK = 30.0
# At most this many subscriptions are held in one claim (each is a term of the claim's CASE); others take
# the per-row path.
MAX_HELD = 32


class Dispatcher:
    def __init__(
        self,
        db: Database,
        endpoints: EndpointCache,
        transport: Transport,
        settings: Settings,
        mtls: MtlsRouter | None = None,
    ) -> None:
        self.db = db
        self.endpoints = endpoints
        self.transport = transport
        self.mtls = mtls  # mTLS mappings and the forward gateway; None: every request as rendered
        self.settings = settings
        self.ttl = TtlWatch(db, settings.liveperson_drain_period, settings.liveperson_ttl_check, self.notify)
        self.recorder = Recorder(db, health=settings.health_policy(), after_flush=self.ttl.observe)
        self.retry = settings.retry_config()
        # Per-endpoint breaker, rate limit, concurrency cap and throttle (dispatch/control.py).
        self.control = EndpointControl(
            settings.endpoint_concurrency,
            settings.breaker_failures,
            settings.breaker_cooldown,
            settings.throttle_seconds,
        )
        self.activity = ActivityLog(settings.failing_after)  # the readable log (herald/activity.py)
        self.lanes: dict[str, Lane] = {}
        # Subscriptions whose deliveries a full lane handed back: while the lane stays full, claims hand
        # their rows straight back (queue.claim_due's `held`).
        self._overflowing: dict[str, Lane] = {}
        self.held = 0  # deliveries claimed and not yet sent (in flight or waiting in a lane)
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._capacity = asyncio.Event()
        self._trace_parents: dict[str, str] = {}  # delivery id → its event's publish span (tracing on)

    def notify(self) -> None:
        """New work may be due (a publish in this process)."""
        self.wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()
        self._capacity.set()

    async def run(self) -> None:
        recorder_task = asyncio.create_task(self.recorder.run())
        ttl_task = asyncio.create_task(self.ttl.run(self._stopping))
        try:
            await self._claim_loop()
        finally:
            await self._drain()
            await self.recorder.close()
            await recorder_task
            await ttl_task
            if self.mtls is not None:
                await self.mtls.close()

    async def _claim_loop(self) -> None:
        s = self.settings
        backlog = False  # the last claim came back full: more is due than we could take
        while not self._stopping.is_set():
            if not self.recorder.healthy.is_set():
                # Outcomes wait to be written (the database is away): claim nothing until they are. Rows
                # claimed now could not be recorded either, and their leases would run out first; and once
                # the database is back, the waiting outcomes finish rows before anyone claims them again.
                await self._until(self.recorder.healthy)
                continue
            room = s.max_in_flight - self.held
            # Under a backlog, wait for room for a real batch: many tiny claims cost more than they move.
            wanted = max(1, s.claim_batch // 4) if backlog else 1
            if room < wanted:
                self._capacity.clear()
                await self._capacity.wait()
                continue
            self.activity.tick()
            size = min(room, s.claim_batch)
            holds = self._holds(time.time())
            claim_started = time.time()
            try:
                claim = await queue.claim_due(self.db, size, s.lease_seconds, holds)
            except Exception:
                log.exception("claiming deliveries failed; retrying")
                await self._sleep(1.0)
                continue
            for sub_id, count in claim.held.items():
                if (lane := self._overflowing.get(sub_id)) is not None:
                    lane.handed_back(holds[sub_id], count)
                metrics.DEFERRED_HELD.inc(count)
            batch = claim.deliveries
            if batch and tracing.enabled():
                await self._trace_claim(batch, claim_started)
            if batch:
                try:
                    await self._accept(batch)
                except Exception:
                    # The database went away between the claim and handing rows back (a disabled or full
                    # endpoint): those rows keep their lease and become due again when it runs out.
                    log.exception("handing back claimed deliveries failed; their leases will expire")
            backlog = claim.taken == size
            if not backlog:
                await self._sleep(s.poll_interval)

    def _holds(self, now: float) -> dict[str, float]:
        """Subscriptions whose due rows the next claim should hand straight back, and for when: those
        behind an open circuit breaker (until its probe), and those whose lane overflowed and is still at
        least half full (after what it holds). Their rows never reach this worker while it could not send
        them anyway: a slow endpoint's backlog costs the others one row update per pass, not a claim, an
        event read and a hand-back each (ADR 0008)."""
        holds = self.control.holds(now)
        concurrency = self.settings.endpoint_concurrency
        for sub_id, lane in list(self._overflowing.items()):
            rate = lane.drain_rate()
            if rate <= 0 or lane.wants_more(concurrency) or self._stopping.is_set():
                del self._overflowing[sub_id]  # room again (or nothing to pace by): claimed as usual
            elif len(holds) < MAX_HELD:
                holds[sub_id] = max(holds.get(sub_id, now), lane.next_turn(now, rate))
        return holds

    async def _until(self, event: asyncio.Event) -> None:
        """Wait for `event`, or for a stop."""
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _sleep(self, seconds: float) -> None:
        """Wait for new work, a flush that may have unblocked ordered deliveries, or the poll interval."""
        self.wake.clear()
        self.recorder.flushed.clear()
        waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(self.recorder.flushed.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _accept(self, batch: list[ClaimedDelivery]) -> None:
        try:
            endpoints = await self.endpoints.get_many({c.subscription_id for c in batch})
        except Exception:
            log.exception("loading endpoints failed; handing %d deliveries back", len(batch))
            await queue.release(self.db, batch, delay=1.0)
            return
        await self._take_tokens(batch, endpoints)
        gone: list[ClaimedDelivery] = []
        disabled: list[ClaimedDelivery] = []
        expired: list[ClaimedDelivery] = []
        # Handed back for a while without using an attempt: rate limit, breaker, endpoint cap, full lane.
        deferred: list[tuple[ClaimedDelivery, float]] = []
        lane_full = 0
        now = time.time()
        for claimed in batch:
            endpoint = endpoints.get(claimed.subscription_id)
            if endpoint is None:
                gone.append(claimed)
            elif not endpoint.enabled:
                self.activity.disabled(endpoint, claimed.account_id)
                # A disabled endpoint's deliveries wait, unless their time to live ran out meanwhile.
                ttl = claimed.retention_time
                (expired if ttl and now - claimed.created_at >= ttl else disabled).append(claimed)
            elif (wait := self.control.admit(endpoint)) is not None:
                deferred.append((claimed, wait))
            else:
                self.activity.enabled(endpoint)
                lane = self.lanes.setdefault(lane_key(endpoint.url), Lane())
                if lane.active < self.settings.endpoint_concurrency:
                    self._start(lane, claimed, endpoint)
                elif len(lane.waiting) < lane.backlog_limit(self.settings.endpoint_concurrency):
                    lane.waiting.append((claimed, endpoint))
                    self.held += 1
                else:
                    self.control.undo(endpoint)
                    deferred.append((claimed, lane.overflow_delay(now)))
                    self._overflowing[claimed.subscription_id] = lane
                    lane_full += 1
        if self._trace_parents:  # not attempted now: a later claim loads their trace again
            for c in (*gone, *expired, *disabled, *(c for c, _ in deferred)):
                self._trace_parents.pop(c.delivery_id, None)
        await queue.cancel(self.db, gone)
        await queue.cancel(self.db, expired, DeliveryStatus.DEAD)
        await queue.release(self.db, disabled, delay=DISABLED_RECHECK)
        await queue.defer(self.db, deferred)
        metrics.DEFERRED_LANE_FULL.inc(lane_full)
        metrics.DEFERRED_PACED.inc(len(deferred) - lane_full)
        metrics.DEFERRED_DISABLED.inc(len(disabled))

    async def _trace_claim(self, batch: list[ClaimedDelivery], started: float) -> None:
        """The claim's span, and the publish span each delivery's attempt span will be a child of."""
        try:
            parents = await traces.load(self.db, ((c.account_id, c.event_id) for c in batch))
        except Exception:  # tracing never stops a delivery
            log.warning("loading trace contexts failed", exc_info=True)
            parents = {}
        for c in batch:
            if (parent := parents.get((c.account_id, c.event_id))) is not None:
                self._trace_parents[c.delivery_id] = parent
        tracing.finished_span("herald.claim", started, time.time(), **{"herald.deliveries": len(batch)})

    async def _take_tokens(self, batch: list[ClaimedDelivery], endpoints: dict[str, Endpoint]) -> None:
        """Rate-limited endpoints in the batch take their tokens from the bucket all workers share, so N
        workers together keep to an endpoint's rate. If that fails, each worker's own bucket paces alone."""
        limited = {sub_id for sub_id, e in endpoints.items() if e.enabled and e.rate_limit}
        if not limited:
            return
        wanted = Counter(c.subscription_id for c in batch if c.subscription_id in limited)
        wants = [self.control.tokens_wanted(endpoints[sub_id], count) for sub_id, count in wanted.items()]
        try:
            available = await rate_tokens.take(self.db, wants)
        except Exception:
            log.warning("taking shared rate-limit tokens failed; pacing by this worker's own buckets")
            return
        for sub_id, tokens in available.items():
            self.control.share(endpoints[sub_id], tokens)

    def _start(self, lane: Lane, claimed: ClaimedDelivery, endpoint: Endpoint, counted: bool = False) -> None:
        lane.started()
        if not counted:
            self.held += 1
        task = asyncio.create_task(self._deliver(claimed, endpoint))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, lane))

    def _finished(self, task: asyncio.Task[None], lane: Lane) -> None:
        self._tasks.discard(task)
        lane.completed()
        self.held -= 1
        if lane.waiting and not self._stopping.is_set():
            claimed, endpoint = lane.waiting.popleft()
            self._start(lane, claimed, endpoint, counted=True)
        self._capacity.set()

    async def _deliver(self, claimed: ClaimedDelivery, endpoint: Endpoint) -> None:
        attempted_at = time.time()
        span = (
            tracing.start_attempt(claimed, endpoint.url, self._trace_parents.pop(claimed.delivery_id, None))
            if tracing.enabled()
            else None
        )
        try:
            profile = get_profile(endpoint.profile)
            request = profile.render(claimed, endpoint, int(attempted_at))
            if endpoint.egress_proxy is not None:
                request = replace(request, proxy=endpoint.egress_proxy)
            if span is not None and endpoint.propagate_trace:
                traced = {**request.headers, "traceparent": tracing.traceparent_of(span)}
                request = replace(request, headers=traced)
            started = time.perf_counter()
            if self.mtls is not None:
                result = await self.mtls.send(self.transport, claimed.account_id, endpoint, request)
            else:
                result = await self.transport.send(request)
            elapsed = time.perf_counter() - started
            record = decide(profile, claimed, request, result, attempted_at, elapsed * 1000, self.retry)
        except Exception as exc:
            # Never let a delivery die silently: it would be re-claimed forever. Record it as dead.
            log.exception("delivery %s could not be attempted", claimed.delivery_id)
            record = internal_failure(claimed, attempted_at, exc)
            elapsed = time.time() - attempted_at
        self.recorder.add(record)
        tracing.end_attempt(span, record)
        self.control.finished(endpoint, record)
        breaker = self.control.breaker_of(endpoint.subscription_id)
        self.activity.attempt(record, endpoint, breaker is not None and breaker.opened_at is not None)
        metrics.ATTEMPT_LATENCY.observe(elapsed)
        metrics.ATTEMPTS.labels("success" if record.succeeded else "failure").inc()
        status = record.final_status
        if status is DeliveryStatus.DELIVERED:
            metrics.DELIVERIES_DELIVERED.inc()
        elif status is DeliveryStatus.DEAD:
            metrics.DELIVERIES_FAILED.inc()

    async def _drain(self) -> None:
        """Graceful stop: hand back what has not started, let in-flight sends finish within the grace."""
        waiting = [c for lane in self.lanes.values() for c, _ in lane.waiting]
        for lane in self.lanes.values():
            lane.waiting.clear()
        self.held -= len(waiting)
        with contextlib.suppress(Exception):
            await queue.release(self.db, waiting)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            # Deliveries cut off here keep their lease; it expires and another worker retries them.
