"""The LivePerson time-to-live installation state machine, pure: states, signals, transitions as data.

An installation with `retention_time` tracks delivery health as a whole (reference/liveperson.md, retry
policy B). The store applies a transition with a compare-and-set on `installations.state` and runs the
entry effects of the new state in the same transaction (herald.store.ttl); the dispatcher only reports
signals (herald.dispatch.ttl).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    UP = "UP"  # every endpoint answers 200/201 in time
    FAILED = "FAILED"  # an endpoint failed: new events are stored (held), only probes are attempted
    IN_TRANSITION = "IN_TRANSITION"  # endpoints answer again: stored events resent in order per conversation
    RECOVERED = "RECOVERED"  # store empty: the drain period runs


class Signal(StrEnum):
    FAILURE = "failure"  # a counted delivery failure (see `counts_as_failure`)
    ANSWERED = "answered"  # an attempt made after the installation failed succeeded (a probe answered)
    STORE_EMPTY = "store_empty"  # no stored event is left
    DRAIN_ENDED = "drain_ended"  # the drain period is over


class Effect(StrEnum):
    HOLD = "hold"  # store every queued event of the installation that is not already being retried
    RELEASE = "release"  # remember the stored conversations, then make the stored events due, in order
    START_DRAIN = "start_drain"  # the drain period starts now
    END_DRAIN = "end_drain"  # forget the drain conversations


# (state, signal) -> next state. A pair that is absent changes nothing.
TRANSITIONS: dict[tuple[State, Signal], State] = {
    (State.UP, Signal.FAILURE): State.FAILED,
    (State.FAILED, Signal.ANSWERED): State.IN_TRANSITION,
    (State.IN_TRANSITION, Signal.FAILURE): State.FAILED,
    (State.IN_TRANSITION, Signal.STORE_EMPTY): State.RECOVERED,
    (State.RECOVERED, Signal.FAILURE): State.FAILED,
    (State.RECOVERED, Signal.DRAIN_ENDED): State.UP,
}

# What entering a state does, in the transition's transaction.
ENTRY_EFFECTS: dict[State, tuple[Effect, ...]] = {
    State.FAILED: (Effect.HOLD,),
    State.IN_TRANSITION: (Effect.RELEASE,),
    State.RECOVERED: (Effect.START_DRAIN,),
    State.UP: (Effect.END_DRAIN,),
}

# The only profile that retries by time to live, so the only one whose subscriptions the machine covers.
TTL_PROFILE = "liveperson-connector"
# An event of a drain conversation published during the drain period waits this long (LivePerson: 4 s).
DRAIN_WAIT = 4.0
DRAIN_PERIOD = 30.0
# `queue.available_at` of a stored (held) event: far beyond any due time (3000-01-01), still a valid date.
HELD_AT = 32_503_680_000.0


def next_state(state: State, signal: Signal) -> State | None:
    """The state the signal leads to, or None when it changes nothing."""
    return TRANSITIONS.get((state, signal))


def combine(signals: set[Signal]) -> Signal | None:
    """One batch of outcomes may hold failures and successes: a failure wins (any failure → FAILED)."""
    for signal in (Signal.FAILURE, Signal.ANSWERED, Signal.STORE_EMPTY, Signal.DRAIN_ENDED):
        if signal in signals:
            return signal
    return None


def counts_as_failure(max_retries: int | None) -> bool:
    """With TTL on, an event type with an explicit `max_retries: 0` does not trigger TTL on its own
    failures: such an event is dropped instead (it is still stored while the installation is FAILED)."""
    return max_retries != 0


def is_probe_answer(state: State, attempted_at: float, state_changed_at: float | None) -> bool:
    """A success moves a FAILED installation on only if the attempt started after it failed: a send that
    was in flight when another endpoint failed says nothing about whether the failed one answers again."""
    return state is State.FAILED and (state_changed_at is None or attempted_at >= state_changed_at)


def publish_delay(state: State, drain_conversation: bool) -> float | None:
    """How a newly published event of the installation is queued: None = held (stored); else seconds to
    wait. FAILED stores everything; during the drain period a drain conversation's event waits 4 s.
    (IN_TRANSITION needs nothing here: ordering by queue head keeps a stored conversation's new events
    behind its stored ones, and lets new conversations straight through.)"""
    if state is State.FAILED:
        return None
    if state is State.RECOVERED and drain_conversation:
        return DRAIN_WAIT
    return 0.0
