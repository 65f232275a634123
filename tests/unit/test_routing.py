"""The routing decision (herald.domain.routing), pure: the policy a subscription delivers with in one
account, and which events it gets."""

from __future__ import annotations

from typing import Any

from herald.domain.livechat import event_context
from herald.domain.routing import Routed, Subscribed, fan_out, route
from herald.domain.ttl import HELD_AT, TTL_PROFILE, State


def subscribed(**fields: Any) -> Subscribed:
    base: dict[str, Any] = {
        "account_id": "a1", "id": "sub_1", "event_types": ["*"], "ordered": False, "max_retries": None,
        "retention_time": None, "profile": "standard", "filter": None, "livechat": None,
        "installation_id": None, "installation_max_retries": None, "installation_retention_time": None,
        "installation_state": None,
    }  # fmt: skip
    return Subscribed(**{**base, **fields})


def test_retry_is_the_subscriptions_else_its_installations() -> None:
    assert route(subscribed(max_retries=2, installation_max_retries=7)).max_retries == 2
    assert route(subscribed(installation_max_retries=7)).max_retries == 7


def test_a_livechat_webhook_keeps_its_profiles_policy() -> None:
    r = route(
        subscribed(livechat={"filters": {}}, installation_max_retries=0, installation_retention_time=60)
    )
    assert (r.max_retries, r.retention_time, r.keeps_order) == (None, None, False)


def test_only_the_connector_retries_by_time_to_live_and_then_keeps_order() -> None:
    own = route(subscribed(profile=TTL_PROFILE, retention_time=300))
    assert (own.retention_time, own.keeps_order, own.installation_id) == (300, True, None)
    assert route(subscribed(profile="standard", retention_time=300)).retention_time is None
    inst = route(
        subscribed(profile=TTL_PROFILE, installation_id="ins_1", installation_retention_time=600,
                   installation_state="FAILED")
    )  # fmt: skip
    assert (inst.retention_time, inst.installation_id, inst.state) == (600, "ins_1", State.FAILED)


def test_fan_out_matches_types_filters_and_holds() -> None:
    plain = route(subscribed(id="s_plain", event_types=["order.*"], filter={"n": {"$gte": 2}}))
    held = route(
        subscribed(id="s_held", profile=TTL_PROFILE, installation_id="i", installation_retention_time=60,
                   installation_state="FAILED")
    )  # fmt: skip
    chat = route(
        subscribed(id="s_chat", livechat={"filters": {"chat_presence": {"user_ids": {"values": ["u"]}}}})
    )
    users = {"chat": {"users": [{"id": "u", "type": "agent"}]}}
    others = {"chat": {"users": [{"id": "v", "type": "agent"}]}}
    events = [
        Routed("a1", "e1", "order.paid", '{"n": 1}', "k", None),
        Routed("a1", "e2", "order.paid", '{"n": 2}', "k", None),
        Routed("a1", "e3", "incoming_chat", "{}", None, event_context("incoming_chat", users, None)),
        Routed("a1", "e4", "incoming_chat", "{}", None, event_context("incoming_chat", others, None)),
    ]
    rows = fan_out({"a1": [plain, held, chat]}, events, 100.0)
    got = {(d.subscription_id, d.event_id): (d.ordering_key, d.available_at) for d in rows}
    assert got == {
        ("s_plain", "e2"): (None, 100.0),
        ("s_held", "e1"): ("k", HELD_AT),
        ("s_held", "e2"): ("k", HELD_AT),
        ("s_held", "e3"): (None, HELD_AT),
        ("s_held", "e4"): (None, HELD_AT),
        ("s_chat", "e3"): (None, 100.0),
    }
    assert fan_out({"a2": [plain]}, events, 100.0) == []  # another account's routes
