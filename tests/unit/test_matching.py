"""Event type patterns: exact names, `*` and `prefix.*` families."""

from __future__ import annotations

import pytest

from herald.domain.matching import type_matches


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["order.created"], "order.created", True),
        (["order.created"], "order.updated", False),
        (["order.created"], "order.created.v2", False),
        (["*"], "anything.at.all", True),
        (["order.*"], "order.created", True),
        (["order.*"], "order.item.added", True),
        (["order.*"], "order", False),
        (["order.*"], "orders.created", False),
        (["order.*"], "xorder.created", False),
        (["ms.MessagingEventNotification.*"], "ms.MessagingEventNotification.ContentEvent", True),
        (["user.created", "order.*"], "order.paid", True),
        (["user.created", "order.*"], "user.deleted", False),
        ([], "order.created", False),
        (["Order.created"], "order.created", False),
    ],
)
def test_type_matches(patterns: list[str], event_type: str, expected: bool) -> None:
    assert type_matches(patterns, event_type) is expected


def test_type_matches_accepts_any_iterable() -> None:
    assert type_matches(iter(["a.*"]), "a.b")
    assert type_matches(("x", "*"), "y")
