"""A lane's drain rate and the pacing of what it hands back, with an injected clock."""

from __future__ import annotations

import pytest

from herald.dispatch.lanes import LANE_FULL_DELAY, OVERFLOW_DELAY_CAP, Lane


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lane_slow_from_its_first_send_is_paced_by_its_stall() -> None:
    clock = Clock()
    lane = Lane(clock=clock)
    for _ in range(4):
        lane.started()
    assert lane.drain_rate() == 0.0 and lane.overflow_delay(0.0) == LANE_FULL_DELAY  # nothing to go by yet
    clock.now += 2.0  # four sends out for 2 s, none back: it takes at most 2 a second
    assert lane.drain_rate() == pytest.approx(2.0)
    lane.waiting.extend([None] * 10)  # type: ignore[list-item]
    assert lane.overflow_delay(0.0) == pytest.approx(5.0)  # ten waiting, two a second
    assert lane.overflow_delay(0.0) == pytest.approx(5.5)  # the next one queues behind it


def test_a_measured_rate_is_capped_by_a_later_stall() -> None:
    clock = Clock()
    lane = Lane(clock=clock)
    lane.started()
    for _ in range(21):  # twenty sends a second, for a little over a second
        lane.started()
        clock.now += 0.05
        lane.completed()
    assert lane.rate == pytest.approx(20.0)
    assert lane.drain_rate() == pytest.approx(20.0)
    clock.now += 10.0  # then the one out hangs for 10 s
    assert lane.drain_rate() == pytest.approx(0.1)


def test_held_batches_queue_behind_each_other_and_the_cap_holds() -> None:
    clock = Clock()
    lane = Lane(clock=clock, rate=10.0)
    lane.started()
    at = lane.next_turn(0.0, 10.0)
    assert at == LANE_FULL_DELAY  # nothing waits: soon
    lane.handed_back(at, 50)  # fifty handed back for then: the next batch comes 5 s later
    assert lane.next_turn(0.0, 10.0) == pytest.approx(at + 5.0)
    lane.handed_back(lane.next_turn(0.0, 10.0), 100_000)
    assert lane.next_turn(0.0, 10.0) == OVERFLOW_DELAY_CAP


def test_a_lane_wants_more_only_below_half_its_backlog() -> None:
    lane = Lane(clock=Clock())
    lane.waiting.extend([None] * 8)  # type: ignore[list-item]
    assert lane.full(2) and not lane.wants_more(2)  # backlog 4 x 2 = 8
    lane.waiting.pop()
    assert not lane.full(2) and not lane.wants_more(2)  # one completion does not reopen the claim to it
    for _ in range(4):
        lane.waiting.pop()
    assert lane.wants_more(2)
