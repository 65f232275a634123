"""Opaque keyset cursors."""

from __future__ import annotations

import base64

import pytest

from herald.store.errors import StoreError
from herald.store.pagination import BadCursor, decode_cursor, encode_cursor, split_page


def test_round_trip() -> None:
    cursor = encode_cursor(1_700_000_000.123456, "dlv_01ABC")
    assert "=" not in cursor
    assert decode_cursor(cursor) == (1_700_000_000.123456, "dlv_01ABC")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "abc", _b64(b'{"a":1}'), _b64(b'["x","y"]'), _b64(b"[1]"), _b64(b"[1,2,3]"), _b64(b"not json")],
)
def test_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor) as info:
        decode_cursor(cursor)
    assert isinstance(info.value, StoreError)
    assert info.value.data == {"field": "cursor"}


def test_split_page() -> None:
    rows = [{"created_at": float(10 - i), "id": f"r{i}"} for i in range(3)]
    page, cursor = split_page(rows, 2)
    assert page == rows[:2]
    assert cursor is not None and decode_cursor(cursor) == (9.0, "r1")
    assert split_page(rows, 3) == (rows, None)
