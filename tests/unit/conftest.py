"""Helpers for the pure unit tests (no database, no sockets)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from herald.domain.models import ClaimedDelivery

MakeClaimed = Callable[..., ClaimedDelivery]

EVENT_TS = 1_700_000_000.123  # 2023-11-14T22:13:20.123Z


def _make_claimed(**overrides: object) -> ClaimedDelivery:
    values: dict[str, object] = {
        "seq": 1,
        "delivery_id": "dlv_01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "account_id": "acct-1",
        "subscription_id": "sub_1",
        "event_id": "evt_1",
        "event_type": "order.created",
        "event_timestamp": EVENT_TS,
        "event_data": b'{"b": 1, "a": [1, 2.50]}',
        "attempts": 0,
        "lease": 1,
        "max_retries": None,
        "retention_time": None,
        "manual": False,
        "created_at": time.time(),
    }
    values.update(overrides)
    return ClaimedDelivery(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_claimed() -> MakeClaimed:
    """Build a ClaimedDelivery with sensible defaults; keyword arguments override fields."""
    return _make_claimed
