"""Which dashboard pages a portal session reaches: the whole account, or only some subscriptions."""

from __future__ import annotations

import pytest

from herald.store.portal import PortalGrant, scopes_of
from herald.ui.portal_scope import page_allowed

ALL = PortalGrant("plk_1", "acme", read_only=False, subscription_ids=None, expires_at=0.0)
SOME = PortalGrant("plk_2", "acme", read_only=True, subscription_ids=frozenset({"sub_a"}), expires_at=0.0)


@pytest.mark.parametrize(
    ("method", "path", "whole_account", "one_subscription"),
    [
        ("GET", "/", True, True),
        ("POST", "/sign-out", True, True),
        ("GET", "/static/ui.css", True, True),
        ("GET", "/a/acme/subscriptions", True, True),
        ("POST", "/a/acme/subscriptions", True, False),  # creating one is account-wide
        ("GET", "/a/acme/subscriptions/new", True, False),
        ("GET", "/a/acme/subscriptions/sub_a", True, True),
        ("POST", "/a/acme/subscriptions/sub_a/replay", True, True),
        ("GET", "/a/acme/subscriptions/sub_b", True, False),
        ("GET", "/a/acme/deliveries", True, True),  # the route narrows it to the granted subscriptions
        ("GET", "/a/acme/deliveries/dlv_1", True, True),  # the route checks the delivery's subscription
        ("GET", "/a/acme/credentials", True, False),
        ("GET", "/a/acme/health", True, False),
        ("GET", "/a/acme/jobs", True, False),
        ("GET", "/a/other/subscriptions", False, False),
        ("GET", "/accounts", False, False),
        ("GET", "/applications", False, False),
    ],
)
def test_page_allowed(method: str, path: str, whole_account: bool, one_subscription: bool) -> None:
    assert page_allowed(method, path, ALL) is whole_account
    assert page_allowed(method, path, SOME) is one_subscription


def test_read_only_scopes_grant_no_write() -> None:
    assert scopes_of(True) == frozenset({"deliveries:read", "webhooks.state:ro"})
    assert {"webhooks.configuration:rw", "deliveries:rw"} <= scopes_of(False)
