"""Endpoint health as a pure fold over attempt outcomes: failing / recovered, 410, slow windows, failure
windows and counts. Time is whatever the observations say (an injected clock)."""

from __future__ import annotations

from herald.domain.health import HealthPolicy, HealthState, Observation, Trigger, enabled_again, observe

POLICY = HealthPolicy(
    slow_threshold_ms=2500, slow_window=120, slow_min_attempts=3, ewma_alpha=0.5,
    failure_window=5 * 86400, failure_limit=0, failing_after=4,
)  # fmt: skip


def ok(at: float, ms: float = 50.0) -> Observation:
    return Observation(at, True, 200, ms)


def fail(at: float, status: int | None = 500, ms: float | None = 50.0) -> Observation:
    return Observation(at, False, status, ms)


def test_failing_is_announced_once_per_streak_and_recovered_on_the_next_success() -> None:
    state, notices = observe(HealthState(), [fail(t) for t in range(6)], POLICY)
    assert [(n.kind, n.index) for n in notices] == [("failing", 3)]
    assert state.consecutive_failures == 6 and state.first_failure_at == 0 and state.failing
    state, notices = observe(state, [fail(7), ok(8), fail(9)], POLICY)
    assert [(n.kind, n.index) for n in notices] == [("recovered", 1)]
    assert (state.consecutive_failures, state.first_failure_at, state.failing) == (1, 9, False)
    assert state.last_success_at == 8 and state.enabled


def test_a_success_before_the_threshold_announces_nothing() -> None:
    _, notices = observe(HealthState(), [fail(0), fail(1), fail(2), ok(3), fail(4)], POLICY)
    assert notices == []


def test_410_disables_at_once() -> None:
    state, notices = observe(HealthState(), [fail(10, status=410)], POLICY)
    assert not state.enabled and state.disabled_at == 10
    assert state.disabled_reason is not None and state.disabled_reason.startswith("gone:")
    assert [(n.kind, n.trigger) for n in notices] == [("disabled", Trigger.GONE)]


def test_no_success_for_the_failure_window_disables() -> None:
    day = 86400.0
    state, notices = observe(HealthState(), [fail(0), fail(4 * day)], POLICY)
    assert state.enabled and [n.kind for n in notices] == []
    state, notices = observe(state, [fail(5 * day)], POLICY)
    assert not state.enabled and notices[-1].trigger is Trigger.FAILING
    assert "5.0 days" in (state.disabled_reason or "")


def test_consecutive_failure_limit_disables_when_set() -> None:
    policy = HealthPolicy(failure_limit=3, failing_after=0)
    state, notices = observe(HealthState(), [fail(0), fail(1)], policy)
    assert state.enabled
    state, notices = observe(state, [fail(2)], policy)
    assert not state.enabled and [n.trigger for n in notices] == [Trigger.FAILING]


def test_slow_for_the_whole_window_disables() -> None:
    slow = [ok(t, ms=3000) for t in (0, 30, 60, 90)]
    state, notices = observe(HealthState(), slow, POLICY)
    assert state.enabled and state.slow_since == 0 and notices == []
    state, notices = observe(state, [ok(120, ms=3000)], POLICY)
    assert not state.enabled and [n.trigger for n in notices] == [Trigger.SLOW]
    assert (state.disabled_reason or "").startswith("slow: responses slower than 2.5 s")


def test_a_fast_spell_resets_the_slow_window() -> None:
    state, _ = observe(HealthState(), [ok(0, ms=3000), ok(60, ms=3000)], POLICY)
    state, _ = observe(state, [ok(61, ms=10), ok(62, ms=10)], POLICY)  # EWMA falls below the threshold
    assert state.slow_since is None and state.slow_attempts == 0
    state, notices = observe(state, [ok(t, ms=9000) for t in (100, 150, 200)], POLICY)
    assert state.enabled and state.slow_since == 100 and notices == []


def test_slow_needs_enough_responses() -> None:
    state, notices = observe(HealthState(), [ok(0, ms=3000), ok(500, ms=3000)], POLICY)
    assert state.enabled and notices == []


def test_connect_failures_do_not_count_as_latency() -> None:
    state, _ = observe(HealthState(), [fail(t, status=None, ms=None) for t in range(0, 300, 50)], POLICY)
    assert state.latency_ewma is None and state.slow_since is None and state.enabled


def test_an_already_disabled_endpoint_is_not_disabled_again() -> None:
    state, notices = observe(HealthState(enabled=False, disabled_reason="manual: x"), [fail(0, 410)], POLICY)
    assert notices == [] and state.disabled_reason == "manual: x"


def test_enabling_starts_afresh() -> None:
    sick = HealthState(False, 9, 1.0, 2.0, 0.5, True, 4000.0, 1.0, 7, "slow: x", 3.0)
    fresh = enabled_again(sick)
    assert fresh == HealthState(last_success_at=0.5)
