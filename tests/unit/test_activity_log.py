"""The readable log (herald/activity.py): failures one line each, successes summarised per endpoint,
endpoint state changes once, JSON lines with the ids as fields."""

from __future__ import annotations

import json
import logging
import time

import pytest

from herald.activity import ActivityLog, JsonFormatter, describe_wait
from herald.domain.models import AttemptRecord, ClaimedDelivery, Endpoint, ErrorKind

ENDPOINT = Endpoint("sub_1", "https://hooks.example/in", "standard", "whsec_x", None)


def attempt(ok: bool, n: int = 0, retry_in: float | None = None, status: int | None = 500) -> AttemptRecord:
    claimed = ClaimedDelivery(1, f"dlv_{n}", "acme", "sub_1", f"evt_{n}", "t.x", 0.0, b"{}", n, 1, None, None,
                              False, 0.0)  # fmt: skip
    next_at = None if retry_in is None else time.time() + retry_in
    if ok:
        return AttemptRecord(claimed, 0.0, 12.0, 200, None, None, None, {}, None, True)
    kind = ErrorKind.BAD_STATUS if status else ErrorKind.REFUSED
    message = None if status else "Connect call failed ('127.0.0.1', 9)"
    return AttemptRecord(claimed, 0.0, 3.0, status, kind, message, None, {}, next_at, False)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "herald.activity"]


def test_failures_are_one_line_each_with_what_happens_next(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = ActivityLog(failing_after=10)
    log.attempt(attempt(False, 0, retry_in=300), ENDPOINT)
    log.attempt(attempt(False, 1, status=None), ENDPOINT)
    assert messages(caplog) == [
        "delivery dlv_0 (t.x) to https://hooks.example/in failed: HTTP 500; retry in 5m",
        "delivery dlv_1 (t.x) to https://hooks.example/in failed: refused: Connect call failed "
        "('127.0.0.1', 9); gave up after 2 attempts",
    ]
    first = caplog.records[0]
    assert (first.delivery_id, first.event_id, first.subscription_id, first.account_id) == (  # type: ignore[attr-defined]
        "dlv_0", "evt_0", "sub_1", "acme",
    )  # fmt: skip


def test_successes_are_summarised_per_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    log = ActivityLog(summary_every=5.0, clock=clock)
    for n in range(3):
        log.attempt(attempt(True, n), ENDPOINT)
    assert messages(caplog) == []  # nothing per success at info
    clock.now += 5
    log.tick()
    assert messages(caplog) == ["https://hooks.example/in (acme): 3 delivered in the last 5s, 12 ms average"]
    clock.now += 5
    log.tick()
    assert len(messages(caplog)) == 1  # a quiet endpoint says nothing


def test_each_success_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ActivityLog().attempt(attempt(True, 7), ENDPOINT)
    assert messages(caplog) == ["delivered dlv_7 (t.x) to https://hooks.example/in in 12 ms"]


def test_state_changes_are_said_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = ActivityLog(failing_after=2)
    for n in range(4):
        log.attempt(attempt(False, n, retry_in=5), ENDPOINT, breaker_open=n >= 3)
    log.attempt(attempt(True, 9), ENDPOINT, breaker_open=False)
    changes = [m for m in messages(caplog) if m.startswith("endpoint")]
    assert changes == [
        "endpoint https://hooks.example/in is failing: 2 failures in a row",
        "endpoint https://hooks.example/in: circuit breaker open (sending paused until a probe succeeds)",
        "endpoint https://hooks.example/in recovered",
        "endpoint https://hooks.example/in: circuit breaker closed (sending again)",
    ]
    log.disabled(ENDPOINT, "acme")
    log.disabled(ENDPOINT, "acme")
    log.enabled(ENDPOINT)
    log.enabled(ENDPOINT)
    assert [m for m in messages(caplog) if "abled" in m] == [
        "endpoint https://hooks.example/in is disabled: its deliveries wait until it is enabled again",
        "endpoint https://hooks.example/in is enabled again",
    ]


def test_json_lines_carry_the_ids() -> None:
    record = logging.LogRecord("herald.activity", logging.WARNING, __file__, 1, "failed %s", ("x",), None)
    record.delivery_id, record.account_id = "dlv_1", "acme"
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "failed x" and out["level"] == "warning"
    assert (out["delivery_id"], out["account_id"]) == ("dlv_1", "acme") and "event_id" not in out
    assert out["time"].endswith("Z")


def test_describe_wait() -> None:
    assert [describe_wait(s) for s in (4.6, 300, 1800, 7200)] == ["5s", "5m", "30m", "2h"]


def test_an_error_message_stays_on_one_bounded_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    record = attempt(False, 0, status=None)
    record = AttemptRecord(record.claimed, 0.0, 1.0, None, ErrorKind.NETWORK, "reset\nby peer " + "x" * 500,
                           None, {}, None, False)  # fmt: skip
    ActivityLog().attempt(record, ENDPOINT)
    [line] = messages(caplog)
    assert "\n" not in line and "network: reset by peer xxx" in line and len(line) < 420
