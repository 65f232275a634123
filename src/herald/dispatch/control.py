"""What the dispatcher asks before sending to an endpoint (subscription) and tells it after: the circuit
breaker, the endpoint's rate limit and concurrency cap, and the throttle. A "no" is a number of seconds:
the delivery is handed back to the queue for that long without an attempt being used."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.dispatch.breaker import Breaker
from herald.dispatch.ratelimit import THROTTLE_STATUSES, Throttle, TokenBucket, burst_size
from herald.domain.models import AttemptRecord, Endpoint, ErrorKind

BUSY_DELAY = 0.25  # the endpoint is at its concurrency cap: look again soon
BUSY_DELAY_CAP = 300.0
IDLE_PRUNE = 600.0  # forget an endpoint's pacing state after this long unused


@dataclass(slots=True)
class _State:
    breaker: Breaker
    throttle: Throttle
    bucket: TokenBucket | None = None
    active: int = 0
    used: float = 0.0
    promised: float = 0.0  # when the last delivery held back at the cap was told to come back
    rate: float = 0.0  # completions per second over the last full second
    _completed: int = 0
    _window: float = 0.0

    def completed(self, now: float) -> None:
        self._completed += 1
        if now - self._window >= 1.0:
            self.rate = self._completed / (now - self._window) if self._window else 0.0
            self._completed, self._window = 0, now

    def busy_delay(self, now: float) -> float:
        """Held-back deliveries come back one completion apart, as the endpoint can take them."""
        if self.rate <= 0:  # not measured yet
            return BUSY_DELAY
        at = max(now + 1.0 / self.rate, self.promised + 1.0 / self.rate)
        self.promised = at
        return min(BUSY_DELAY_CAP, max(BUSY_DELAY, at - now))


@dataclass
class EndpointControl:
    default_concurrency: int
    breaker_failures: int
    breaker_cooldown: float
    throttle_seconds: float
    clock: Callable[[], float] = time.time
    _states: dict[str, _State] = field(default_factory=dict)
    _next_prune: float = 0.0
    _opened: set[str] = field(default_factory=set)  # endpoints whose breaker has opened (and may still be)

    def _state(self, endpoint: Endpoint, now: float) -> _State:
        st = self._states.get(endpoint.subscription_id)
        if st is None:
            st = _State(
                Breaker(self.breaker_failures, self.breaker_cooldown), Throttle(self.throttle_seconds)
            )
            self._states[endpoint.subscription_id] = st
        st.used = now
        return st

    def admit(self, endpoint: Endpoint) -> float | None:
        """None: send now (the caller must later call `finished` or `undo`). Else seconds to hold it back."""
        now = self.clock()
        self._prune(now)
        st = self._state(endpoint, now)
        st.breaker.seed(endpoint.consecutive_failures, endpoint.last_failure_at)
        if st.breaker.opened_at is not None:
            self._opened.add(endpoint.subscription_id)
        # The endpoint's own cap (and the throttle's share of it); the lane caps the rest.
        throttled = st.throttle.current(now) < 1.0
        if endpoint.max_concurrency or throttled:
            cap = st.throttle.concurrency(endpoint.max_concurrency or self.default_concurrency, now)
            if st.active >= cap:
                return st.busy_delay(now)
        if endpoint.rate_limit:
            if st.bucket is None:
                st.bucket = TokenBucket.full(endpoint.rate_limit, endpoint.rate_limit_burst, now)
            else:
                st.bucket.configure(endpoint.rate_limit, endpoint.rate_limit_burst)
            wait = st.bucket.take(now, endpoint.rate_limit * st.throttle.current(now))
            if wait is not None:
                return wait
        wait = st.breaker.allow(now)
        if wait is not None:
            if st.bucket is not None and endpoint.rate_limit:
                st.bucket.give_back()
            return wait
        st.active += 1
        return None

    def tokens_wanted(self, endpoint: Endpoint, count: int) -> tuple[str, float, float, int]:
        """What to ask the endpoint's shared bucket for (store/rate_tokens.py): `count` tokens, refilled at
        its rate as it applies now (a throttle halves it), up to its burst."""
        rate = endpoint.rate_limit or 0.0
        now = self.clock()
        current = rate * self._state(endpoint, now).throttle.current(now)
        return endpoint.subscription_id, current, burst_size(rate, endpoint.rate_limit_burst), count

    def share(self, endpoint: Endpoint, tokens: float) -> None:
        """This worker took `tokens` from the endpoint's shared bucket for the deliveries it claimed: its
        own bucket holds those, and `admit` deals them out (and paces the rest) as before."""
        if not endpoint.rate_limit:
            return
        now = self.clock()
        st = self._state(endpoint, now)
        if st.bucket is None:
            st.bucket = TokenBucket.full(endpoint.rate_limit, endpoint.rate_limit_burst, now)
        else:
            st.bucket.configure(endpoint.rate_limit, endpoint.rate_limit_burst)
        st.bucket.share(tokens, now)

    def undo(self, endpoint: Endpoint) -> None:
        """An admitted delivery was handed back before it was sent."""
        st = self._states.get(endpoint.subscription_id)
        if st is not None:
            st.active = max(0, st.active - 1)
            st.breaker.undo()
            if st.bucket is not None:
                st.bucket.give_back()

    def finished(self, endpoint: Endpoint, record: AttemptRecord) -> None:
        now = self.clock()
        st = self._state(endpoint, now)
        st.active = max(0, st.active - 1)
        st.completed(now)
        if record.error_kind is ErrorKind.INTERNAL:
            st.breaker.undo()  # Herald's own failure says nothing about the endpoint
            return
        if record.succeeded:
            st.breaker.success(now)
        else:
            st.breaker.failure(now)
            if st.breaker.opened_at is not None:
                self._opened.add(endpoint.subscription_id)
        if record.status_code in THROTTLE_STATUSES:
            st.throttle.signal(now)

    def holds(self, now: float) -> dict[str, float]:
        """Endpoints behind an open breaker, and when their deliveries may come back (its probe)."""
        out: dict[str, float] = {}
        for sub_id in list(self._opened):
            st = self._states.get(sub_id)
            if st is None or st.breaker.opened_at is None:
                self._opened.discard(sub_id)  # closed again (or forgotten)
            elif (wait := st.breaker.wait(now)) is not None:
                out[sub_id] = now + wait
        return out

    def breaker_of(self, subscription_id: str) -> Breaker | None:
        st = self._states.get(subscription_id)
        return None if st is None else st.breaker

    def _prune(self, now: float) -> None:
        if now < self._next_prune:
            return
        self._next_prune = now + IDLE_PRUNE
        for sub_id in [k for k, st in self._states.items() if st.active == 0 and now - st.used > IDLE_PRUNE]:
            del self._states[sub_id]
