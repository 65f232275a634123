"""The simulate driver's measurements: windowed rates, the shortfall message, /metrics parsing."""

from __future__ import annotations

import time

from herald.simulate.driver import Stats, Window, parse_counters


def test_window_rate_over_the_last_seconds() -> None:
    w = Window()
    assert w.rate() is None
    for t in range(10):
        w.add(float(t), t * 50.0)
    assert w.rate() == 50.0
    assert w.samples[0][0] >= 5.0  # older samples are dropped


def test_shortfall_is_said_only_when_events_wait() -> None:
    stats = Stats(target=200.0, started=time.monotonic() - 60)
    for t in range(5):
        stats.publishing.add(float(t), t * 100.0)  # 100/s of the 200/s asked
    stats.slowest_round_ms = 480
    stats.check_shortfall(backlog=0)  # the model ran short, not the server: nothing to say
    assert stats.shortfall is None
    stats.check_shortfall(backlog=500)
    assert stats.shortfall == (
        "Herald takes 100 events/s here, below the 200/s asked: publishing is the limit on this machine "
        "(a publish round took up to 480 ms)"
    )
    assert stats.live_line() == "published 100.0/s   delivered -   failed -"


def test_parse_counters() -> None:
    text = (
        '# HELP x\nherald_deliveries_delivered_total 12.0\nherald_attempts_total{outcome="failure"} 3.0\nbad'
    )
    assert parse_counters(text) == {
        "herald_deliveries_delivered_total": 12.0,
        'herald_attempts_total{outcome="failure"}': 3.0,
    }
