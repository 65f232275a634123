"""Which dashboard pages a portal session limited to some subscriptions may reach.

Pages about one subscription (and its deliveries) are allowed for the subscriptions granted; the lists
that could show others filter themselves (routes check `User.sees_subscription`); every account-wide page
(credentials, health, event types, jobs, operational events, new subscriptions) is refused with 404.
"""

from __future__ import annotations

import re

from herald.store.portal import PortalGrant

_ALWAYS = re.compile(r"^/(|sign-out|static/.*)$")
_ACCOUNT = re.compile(r"^/a/(?P<account>[^/]+)(?P<rest>/.*)?$")
_SUBSCRIPTION = re.compile(r"^/subscriptions/(?P<id>[^/]+)(/.*)?$")
# Lists that filter themselves, and delivery pages whose route checks the delivery's subscription.
_SELF_CHECKED = re.compile(r"^(|/|/subscriptions|/deliveries|/deliveries/[^/]+(/resend)?)$")


def page_allowed(method: str, path: str, grant: PortalGrant) -> bool:
    """`path` is relative to the dashboard's mount point (/ui)."""
    if _ALWAYS.match(path):
        return True
    found = _ACCOUNT.match(path)
    if found is None or found["account"] != grant.account_id:
        return False  # other accounts' pages and admin pages: the route would refuse them too
    rest = found["rest"] or ""
    if grant.subscription_ids is None:
        return True
    if rest == "/subscriptions" and method != "GET":
        return False  # creating a subscription is account-wide
    if _SELF_CHECKED.match(rest):
        return True
    sub = _SUBSCRIPTION.match(rest)
    return sub is not None and sub["id"] in grant.subscription_ids
