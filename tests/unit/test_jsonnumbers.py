"""The JSON-number rule on its own: which numbers are refused, the path named, and what is left alone."""

from __future__ import annotations

import pytest

from herald.api.jsonnumbers import refuse_nonfinite, unreadable_number


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"a": NaN}', "a"),
        (b'{"a": [1, {"b": -Infinity}], "c": NaN}', "a.1.b"),  # the first in document order
        (b"[0, 1e400]", "1"),
        (b'{"a": {"b": 123456789012345678901234}}', "a.b"),
        (b"[" * 900 + b"NaN" + b"]" * 900, ".".join(["0"] * 900)),  # deep, found without recursion
    ],
)
def test_refused_numbers_are_named_by_path(body: bytes, field: str) -> None:
    found = unreadable_number(body)
    assert found is not None and found[0] == field


@pytest.mark.parametrize(
    "body",
    [
        b'{"s": "NaN Infinity 1e999 12345678901234567890"}',
        b'{"tiny": 1e-400, "max": 1.7976931348623157e308, "u64": 18446744073709551615}',
        b'{"a": NaN',  # not JSON: the route's own parser answers 400
        b"[" * 100_000 + b"NaN" + b"]" * 100_000,  # too deep for any parser: 400 from the route too
    ],
)
def test_everything_else_is_left_to_the_route(body: bytes) -> None:
    assert unreadable_number(body) is None


def test_only_json_bodies_are_checked() -> None:
    assert refuse_nonfinite(b"text/plain", b'{"a": NaN}') is None
    assert refuse_nonfinite(None, b'{"a": NaN}') is None
    for kind in (b"application/json", b"application/json; charset=utf-8", b"application/cloudevents+json"):
        response = refuse_nonfinite(kind, b'{"a": NaN}')
        assert response is not None and response.status_code == 422
