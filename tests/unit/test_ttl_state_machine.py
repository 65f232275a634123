"""The LivePerson TTL installation state machine: every (state, signal) pair, and the pure rules around it."""

from __future__ import annotations

import itertools

import pytest

from herald.domain.models import ClaimedDelivery
from herald.domain.profiles import LivePersonConnectorProfile
from herald.domain.retry import NoRetry, RetryConfig, TimeToLiveRetry
from herald.domain.ttl import (
    DRAIN_WAIT,
    ENTRY_EFFECTS,
    TRANSITIONS,
    Effect,
    Signal,
    State,
    combine,
    counts_as_failure,
    is_probe_answer,
    next_state,
    publish_delay,
)

# The whole table as liveperson.md states it; every other pair changes nothing.
EXPECTED = {
    (State.UP, Signal.FAILURE): State.FAILED,
    (State.FAILED, Signal.ANSWERED): State.IN_TRANSITION,
    (State.IN_TRANSITION, Signal.FAILURE): State.FAILED,
    (State.IN_TRANSITION, Signal.STORE_EMPTY): State.RECOVERED,
    (State.RECOVERED, Signal.FAILURE): State.FAILED,
    (State.RECOVERED, Signal.DRAIN_ENDED): State.UP,
}


@pytest.mark.parametrize(("state", "signal"), list(itertools.product(State, Signal)))
def test_every_state_and_signal(state: State, signal: Signal) -> None:
    assert next_state(state, signal) == EXPECTED.get((state, signal))


def test_the_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


def test_the_happy_cycle_goes_round() -> None:
    state = State.UP
    for signal in (Signal.FAILURE, Signal.ANSWERED, Signal.STORE_EMPTY, Signal.DRAIN_ENDED):
        nxt = next_state(state, signal)
        assert nxt is not None
        state = nxt
    assert state is State.UP


def test_every_state_is_reachable_and_can_get_back_up() -> None:
    reachable = {State.UP}
    while True:
        more = {TRANSITIONS[k] for k in TRANSITIONS if k[0] in reachable} - reachable
        if not more:
            break
        reachable |= more
    assert reachable == set(State)
    for state in State:  # from anywhere, UP again without a failure
        seen = {state}
        while State.UP not in seen:
            step = {TRANSITIONS[k] for k in TRANSITIONS if k[0] in seen and k[1] is not Signal.FAILURE}
            assert step - seen, f"stuck from {state}"
            seen |= step


def test_entry_effects() -> None:
    assert ENTRY_EFFECTS == {
        State.FAILED: (Effect.HOLD,),
        State.IN_TRANSITION: (Effect.RELEASE,),
        State.RECOVERED: (Effect.START_DRAIN,),
        State.UP: (Effect.END_DRAIN,),
    }


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        (set(), None),
        ({Signal.ANSWERED}, Signal.ANSWERED),
        ({Signal.ANSWERED, Signal.FAILURE}, Signal.FAILURE),
        ({Signal.STORE_EMPTY, Signal.FAILURE}, Signal.FAILURE),
        ({Signal.DRAIN_ENDED}, Signal.DRAIN_ENDED),
    ],
)
def test_a_failure_wins_in_a_batch(signals: set[Signal], expected: Signal | None) -> None:
    assert combine(signals) == expected


@pytest.mark.parametrize(("max_retries", "counts"), [(None, True), (0, False), (1, True), (5, True)])
def test_only_an_explicit_zero_does_not_trigger_ttl(max_retries: int | None, counts: bool) -> None:
    assert counts_as_failure(max_retries) is counts


def test_a_success_answers_only_when_failed_and_attempted_after_the_failure() -> None:
    assert is_probe_answer(State.FAILED, 11.0, 10.0)
    assert not is_probe_answer(State.FAILED, 9.0, 10.0)  # in flight before the failure
    for state in (State.UP, State.IN_TRANSITION, State.RECOVERED):
        assert not is_probe_answer(state, 11.0, 10.0)


@pytest.mark.parametrize(
    ("state", "drain", "expected"),
    [
        (State.UP, False, 0.0),
        (State.UP, True, 0.0),
        (State.FAILED, False, None),
        (State.FAILED, True, None),
        (State.IN_TRANSITION, False, 0.0),
        (State.IN_TRANSITION, True, 0.0),
        (State.RECOVERED, False, 0.0),
        (State.RECOVERED, True, DRAIN_WAIT),
    ],
)
def test_publish_holds_or_delays(state: State, drain: bool, expected: float | None) -> None:
    assert publish_delay(state, drain) == expected
    assert DRAIN_WAIT == 4.0


def _claimed(max_retries: int | None, retention_time: int | None, manual: bool = False) -> ClaimedDelivery:
    return ClaimedDelivery(
        seq=1,
        delivery_id="d",
        account_id="a",
        subscription_id="s",
        event_id="e",
        event_type="t",
        event_timestamp=0.0,
        event_data=b"{}",
        attempts=0,
        lease=1,
        max_retries=max_retries,
        retention_time=retention_time,
        manual=manual,
        created_at=0.0,
    )


def test_connector_policy_choice() -> None:
    profile = LivePersonConnectorProfile()
    config = RetryConfig(ttl_backoff=0.5)
    ttl = profile.retry_policy(_claimed(None, 60), config)
    assert isinstance(ttl, TimeToLiveRetry) and ttl.first == 0.5 and ttl.retention_time == 60
    assert isinstance(profile.retry_policy(_claimed(3, 60), config), TimeToLiveRetry)  # TTL wins
    dropped = profile.retry_policy(_claimed(0, 60), config)  # explicit 0 under TTL: dropped
    assert isinstance(dropped, NoRetry) and dropped.next_delay(1, 0.0) is None
    assert profile.retry_policy(_claimed(2, None), config).next_delay(3, 0.0) is None
