"""Outcome classification: what an attempt decides for its delivery."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import pytest

from herald.dispatch.outcome import decide, parse_retry_after
from herald.domain.models import ClaimedDelivery, DeliveryStatus, ErrorKind, Request, Response, TransportError
from herald.domain.profiles import LivePersonConnectorProfile, StandardProfile
from herald.domain.retry import RetryConfig

MakeClaimed = Callable[..., ClaimedDelivery]
REQUEST = Request("https://example.com/h", b"{}", {"webhook-id": "dlv_1", "content-type": "application/json"})
CONFIG = RetryConfig(schedule=(10.0, 20.0), liveperson_interval=30.0, jitter=0.0)
NOW = 1_700_000_000.0


@pytest.mark.parametrize(("value", "expected"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0)])
def test_parse_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    future = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_retry_after(future, NOW) == pytest.approx(90.0)
    past = email.utils.formatdate(NOW - 3600, usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0


@pytest.mark.parametrize(
    "value", [None, "", "   ", "soon", "-5", "1.5", "12abc", "Wed, 99 Foo 2015", "\u00b2"]
)
def test_parse_retry_after_garbage_is_ignored(value: str | None) -> None:
    # A hostile or broken receiver controls this header: nothing it sends may raise.
    assert parse_retry_after(value, NOW) is None


def test_decide_success(make_claimed: MakeClaimed) -> None:
    record = decide(StandardProfile(), make_claimed(), REQUEST, Response(204, b"ok"), NOW, 12.5, CONFIG)
    assert record.succeeded
    assert record.final_status is DeliveryStatus.DELIVERED
    assert record.status_code == 204
    assert record.error_kind is None and record.error_message is None
    assert record.next_attempt_at is None
    assert record.response_body == "ok"
    assert record.request_headers == REQUEST.headers
    assert (record.attempted_at, record.duration_ms) == (NOW, 12.5)


def test_decide_bad_status_schedules_retry(make_claimed: MakeClaimed) -> None:
    before = time.time()
    record = decide(StandardProfile(), make_claimed(), REQUEST, Response(500, b"\xffboom"), NOW, 3.0, CONFIG)
    after = time.time()
    assert not record.succeeded
    assert record.final_status is DeliveryStatus.PENDING
    assert record.status_code == 500
    assert record.error_kind is ErrorKind.BAD_STATUS
    assert "500" in (record.error_message or "")
    assert record.response_body == "\ufffdboom"  # undecodable bytes replaced, never raised
    assert record.next_attempt_at is not None
    assert before + 10.0 <= record.next_attempt_at <= after + 10.0


def test_decide_second_failure_uses_next_schedule_step(make_claimed: MakeClaimed) -> None:
    before = time.time()
    record = decide(StandardProfile(), make_claimed(attempts=1), REQUEST, Response(503, b""), NOW, 1, CONFIG)
    assert record.next_attempt_at is not None
    assert record.next_attempt_at == pytest.approx(before + 20.0, abs=1.0)


def test_decide_transport_error(make_claimed: MakeClaimed) -> None:
    error = TransportError(ErrorKind.CONNECT_TIMEOUT, "connect timed out")
    record = decide(StandardProfile(), make_claimed(), REQUEST, error, NOW, 5000.0, CONFIG)
    assert not record.succeeded
    assert record.status_code is None
    assert record.response_body is None
    assert record.error_kind is ErrorKind.CONNECT_TIMEOUT
    assert record.error_message == "connect timed out"
    assert record.final_status is DeliveryStatus.PENDING


def test_decide_exhausted_is_dead(make_claimed: MakeClaimed) -> None:
    record = decide(StandardProfile(), make_claimed(attempts=2), REQUEST, Response(500, b""), NOW, 1, CONFIG)
    assert record.next_attempt_at is None
    assert record.final_status is DeliveryStatus.DEAD


def test_decide_max_retries_zero_is_dead_after_one_attempt(make_claimed: MakeClaimed) -> None:
    claimed = make_claimed(max_retries=0)
    record = decide(StandardProfile(), claimed, REQUEST, Response(500, b""), NOW, 1, CONFIG)
    assert record.final_status is DeliveryStatus.DEAD


def test_decide_manual_resend_is_not_retried(make_claimed: MakeClaimed) -> None:
    error = TransportError(ErrorKind.REFUSED, "refused")
    record = decide(StandardProfile(), make_claimed(manual=True), REQUEST, error, NOW, 1, CONFIG)
    assert record.final_status is DeliveryStatus.DEAD


def test_decide_liveperson_202_is_failure(make_claimed: MakeClaimed) -> None:
    profile = LivePersonConnectorProfile()
    record = decide(profile, make_claimed(max_retries=2), REQUEST, Response(202, b""), NOW, 1, CONFIG)
    assert not record.succeeded
    assert record.error_kind is ErrorKind.BAD_STATUS
    assert record.next_attempt_at == pytest.approx(time.time() + 30.0, abs=1.0)


def test_decide_honours_retry_after(make_claimed: MakeClaimed) -> None:
    response = Response(429, b"slow down", {"retry-after": "600"})
    before = time.time()
    record = decide(StandardProfile(), make_claimed(), REQUEST, response, time.time(), 1, CONFIG)
    assert record.next_attempt_at is not None
    assert record.next_attempt_at == pytest.approx(before + 600.0, abs=1.0)


def test_decide_retry_after_shorter_than_schedule_is_ignored(make_claimed: MakeClaimed) -> None:
    response = Response(429, b"", {"retry-after": "1"})
    before = time.time()
    record = decide(StandardProfile(), make_claimed(), REQUEST, response, time.time(), 1, CONFIG)
    assert record.next_attempt_at == pytest.approx(before + 10.0, abs=1.0)


def test_decide_retry_after_does_not_revive_a_dead_delivery(make_claimed: MakeClaimed) -> None:
    response = Response(503, b"", {"retry-after": "60"})
    record = decide(StandardProfile(), make_claimed(attempts=2), REQUEST, response, NOW, 1, CONFIG)
    assert record.final_status is DeliveryStatus.DEAD


def test_decide_with_garbage_retry_after_still_records(make_claimed: MakeClaimed) -> None:
    response = Response(503, b"", {"retry-after": "\u00b2"})
    record = decide(StandardProfile(), make_claimed(), REQUEST, response, NOW, 1, CONFIG)
    assert record.final_status is DeliveryStatus.PENDING
