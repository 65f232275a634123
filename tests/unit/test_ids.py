"""Ids: prefixed, ULID-shaped, ordered by creation time."""

from __future__ import annotations

import re

import pytest

from herald import ids
from herald.ids import new_id

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _millis(identifier: str) -> int:
    value = 0
    for char in identifier.split("_", 1)[1][:10]:
        value = value * 32 + ALPHABET.index(char)
    return value


def test_format() -> None:
    identifier = new_id("evt")
    assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", identifier)
    assert new_id("dlv").startswith("dlv_")


def test_unique() -> None:
    assert len({new_id("x") for _ in range(2000)}) == 2000


def test_time_prefix_and_ordering(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(
        [1_700_000_000.000, 1_700_000_000.001, 1_700_000_000.002, 1_700_000_123.456, 1_800_000_000.0]
    )
    times = []

    def fake_time() -> float:
        times.append(next(clock))
        return times[-1]

    monkeypatch.setattr(ids.time, "time", fake_time)
    generated = [new_id("sub") for _ in range(5)]
    assert sorted(generated) == generated
    assert [_millis(i) for i in generated] == [int(t * 1000) for t in times]
