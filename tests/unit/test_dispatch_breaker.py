"""The circuit breaker, the token bucket, the throttle and the endpoint control that combines them, with an
injected clock."""

from __future__ import annotations

from dataclasses import replace

from herald.dispatch.breaker import Breaker, BreakerState, state_of
from herald.dispatch.control import BUSY_DELAY, EndpointControl
from herald.dispatch.ratelimit import Throttle, TokenBucket
from herald.domain.models import AttemptRecord, ClaimedDelivery, Endpoint, ErrorKind


def test_breaker_opens_after_threshold_then_probes_once_and_closes_on_success() -> None:
    b = Breaker(threshold=3, cooldown=10)
    for t in (0, 1):
        b.failure(t)
    assert b.allow(2) is None and b.state(2) is BreakerState.CLOSED
    b.failure(2)
    assert b.state(3) is BreakerState.OPEN and b.allow(3) == 9
    assert b.allow(12) is None  # the probe
    assert b.state(12) is BreakerState.HALF_OPEN and b.allow(12) == 10  # only one probe at a time
    b.success(13)
    assert b.state(13) is BreakerState.CLOSED and b.allow(13) is None


def test_breaker_failed_probe_reopens_for_another_cooldown() -> None:
    b = Breaker(threshold=1, cooldown=5)
    b.failure(0)
    assert b.allow(5) is None
    b.failure(6)
    assert b.allow(7) == 4 and b.state(7) is BreakerState.OPEN


def test_breaker_undo_frees_the_probe_and_zero_threshold_never_opens() -> None:
    b = Breaker(threshold=1, cooldown=5)
    b.failure(0)
    assert b.allow(6) is None
    b.undo()
    assert b.allow(6) is None
    off = Breaker(threshold=0, cooldown=5)
    for t in range(100):
        off.failure(t)
    assert off.allow(100) is None


def test_breaker_seeds_from_the_shared_streak_but_not_from_before_its_own_success() -> None:
    b = Breaker(threshold=5, cooldown=10)
    b.seed(consecutive_failures=5, last_failure_at=100)
    assert b.allow(105) == 5
    c = Breaker(threshold=5, cooldown=10)
    c.success(200)
    c.seed(consecutive_failures=7, last_failure_at=150)  # stale: we have seen a success since
    assert c.allow(201) is None
    assert state_of(5, 100, 5, 10, 105) is BreakerState.OPEN
    assert state_of(5, 100, 5, 10, 111) is BreakerState.HALF_OPEN
    assert state_of(4, 100, 5, 10, 105) is BreakerState.CLOSED


def test_token_bucket_paces_and_spreads_deferrals() -> None:
    bucket = TokenBucket.full(rate=2, burst=1, now=0)
    assert bucket.take(0) is None
    first, second = bucket.take(0), bucket.take(0)
    assert first == 0.5 and second == 1.0  # one token apart, not all at the same moment
    assert bucket.take(0.5) is None
    bucket.give_back()
    assert bucket.tokens == 1.0


def test_throttle_halves_then_recovers() -> None:
    t = Throttle(seconds=30)
    assert t.concurrency(64, 0) == 64
    t.signal(0)
    t.signal(1)
    assert t.concurrency(64, 2) == 16
    for _ in range(10):
        t.signal(3)
    assert t.concurrency(64, 4) == 1  # never below one
    assert t.concurrency(64, 34) == 64


def _endpoint(**fields: object) -> Endpoint:
    return Endpoint(
        subscription_id="sub_1", url="https://x", profile="standard", secret="s", client_id=None, **fields
    )  # type: ignore[arg-type]


def _record(status: int | None, succeeded: bool, kind: ErrorKind | None = None) -> AttemptRecord:
    claimed = ClaimedDelivery(1, "dlv", "a", "sub_1", "e", "t", 0.0, b"{}", 0, 1, None, None, False, 0.0)
    return AttemptRecord(claimed, 0.0, 1.0, status, kind, None, None, {}, None, succeeded)


def test_control_caps_concurrency_and_throttles_on_429() -> None:
    now = [0.0]
    control = EndpointControl(
        4, breaker_failures=0, breaker_cooldown=1, throttle_seconds=30, clock=lambda: now[0]
    )
    ep = _endpoint(max_concurrency=2)
    assert control.admit(ep) is None and control.admit(ep) is None
    assert control.admit(ep) == BUSY_DELAY
    control.finished(ep, _record(429, False))
    control.finished(ep, _record(200, True))
    assert control.admit(ep) is None  # throttled to 1 in flight
    assert control.admit(ep) == BUSY_DELAY
    now[0] = 31.0
    assert control.admit(ep) is None  # the throttle has worn off: 2 again


def test_control_rate_limit_and_breaker_defer_and_internal_failures_do_not_trip_it() -> None:
    now = [0.0]
    control = EndpointControl(
        64, breaker_failures=2, breaker_cooldown=10, throttle_seconds=30, clock=lambda: now[0]
    )
    ep = _endpoint(rate_limit=1.0, rate_limit_burst=1)
    assert control.admit(ep) is None
    assert control.admit(ep) == 1.0
    plain = replace(_endpoint(), subscription_id="sub_2")
    for _ in range(3):
        assert control.admit(plain) is None
        control.finished(plain, _record(None, False, ErrorKind.INTERNAL))
    assert control.admit(plain) is None
    control.finished(plain, _record(500, False))
    control.admit(plain)
    control.finished(plain, _record(500, False))
    assert control.admit(plain) == 10.0  # open
    now[0] = 10.0
    assert control.admit(plain) is None  # the probe
    control.finished(plain, _record(200, True))
    assert control.admit(plain) is None


def test_breaker_wait_answers_like_allow_without_taking_the_probe() -> None:
    b = Breaker(threshold=1, cooldown=10)
    assert b.wait(0) is None  # closed
    b.failure(0)
    assert b.wait(4) == 6 and b.wait(10) is None  # open, then due for its probe
    assert b.wait(10) is None and not b.probing  # asking does not take the probe
    assert b.allow(10) is None and b.probing
    assert b.wait(11) == 10  # the probe is out: the rest wait a cool-down


def test_control_holds_endpoints_behind_an_open_breaker_until_their_probe() -> None:
    now = [100.0]
    control = EndpointControl(
        64, breaker_failures=1, breaker_cooldown=10, throttle_seconds=30, clock=lambda: now[0]
    )
    ep = _endpoint()
    assert control.holds(now[0]) == {}
    assert control.admit(ep) is None
    control.finished(ep, _record(500, False))
    assert control.holds(101.0) == {"sub_1": 110.0}
    assert control.holds(110.0) == {}  # due: the next claim brings the probe
    now[0] = 110.0
    assert control.admit(ep) is None
    assert control.holds(111.0) == {"sub_1": 121.0}  # while the probe is out
    control.finished(ep, _record(200, True))
    assert control.holds(112.0) == {}  # closed
