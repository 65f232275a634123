"""Outcome rules for endpoint health: Retry-After only on 429 and 503, clamped to configurable bounds."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from herald.config import ConfigError, Settings
from herald.dispatch.outcome import decide
from herald.domain.models import Request, Response
from herald.domain.profiles import StandardProfile
from herald.domain.retry import RetryConfig

if TYPE_CHECKING:
    from conftest import MakeClaimed

REQUEST = Request("https://example.com/h", b"{}", {"webhook-id": "dlv_1"})
CONFIG = RetryConfig(schedule=(10.0, 20.0), jitter=0.0, retry_after_min=30.0, retry_after_max=600.0)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "120", 120.0),
        (503, "120", 120.0),
        (429, "5", 30.0),  # raised to the lower bound
        (503, "99999", 600.0),  # capped at the upper bound
        (500, "120", 10.0),  # other statuses: ignored
        (410, "120", 10.0),
    ],
)
def test_retry_after_on_429_and_503_within_bounds(
    make_claimed: MakeClaimed, status: int, retry_after: str, expected: float
) -> None:
    before = time.time()
    response = Response(status, b"", {"retry-after": retry_after})
    record = decide(StandardProfile(), make_claimed(), REQUEST, response, before, 1, CONFIG)
    assert record.next_attempt_at == pytest.approx(before + expected, abs=1.0)


def test_retry_after_bounds_come_from_settings() -> None:
    config = Settings(retry_after_min=5, retry_after_max=50).retry_config()
    assert (config.retry_after_min, config.retry_after_max) == (5, 50)
    with pytest.raises(ConfigError):
        Settings(retry_after_min=60, retry_after_max=50).retry_config()
    policy = Settings(slow_threshold=3, slow_window=10, disable_after_failures=7).health_policy()
    assert (policy.slow_threshold_ms, policy.slow_window, policy.failure_limit) == (3000, 10, 7)
