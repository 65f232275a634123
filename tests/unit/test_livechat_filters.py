"""LiveChat webhook filters: per-action validation at registration, and matching at publish time."""

from __future__ import annotations

from typing import Any

import pytest

from herald.domain import livechat as lc
from herald.domain.livechat import (
    EventContext,
    RegistrationError,
    event_context,
    matches,
    restored_context,
    saved_context,
    validate_registration,
)

OWNER = "my-client"
AGENT = {"id": "agent@x.com", "type": "agent"}
CUSTOMER = {"id": "cust-1", "type": "customer"}
MY_BOT = {"id": "bot-1", "type": "agent", "owner_client_id": OWNER}
OTHER_BOT = {"id": "bot-2", "type": "agent", "owner_client_id": "someone-else"}


def refused(action: str, filters: Any = None, extra: Any = None, version: str = "v3.3") -> RegistrationError:
    with pytest.raises(RegistrationError) as info:
        validate_registration(action, filters, extra, version)
    return info.value


# ------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("action", "filters", "field"),
    [
        (
            "incoming_chat",
            {"author_type": "agent"},
            "filters.author_type",
        ),  # only incoming_event/event_updated
        ("incoming_event", {"author_type": "bot"}, "filters.author_type"),
        ("incoming_chat", {"only_my_chats": "yes"}, "filters.only_my_chats"),
        ("routing_status_set", {"only_my_chats": True}, "filters.only_my_chats"),  # takes no filters
        ("thread_tagged", {"author_type": "agent"}, "filters.author_type"),
        ("incoming_chat", {"chat_presence": {}}, "filters.chat_presence"),
        (
            "incoming_chat",
            {"chat_presence": {"user_ids": {"values": ["a"], "exclude_values": ["b"]}}},
            "filters.chat_presence.user_ids",
        ),  # values XOR exclude_values
        ("incoming_chat", {"chat_presence": {"user_ids": {}}}, "filters.chat_presence.user_ids"),
        (
            "incoming_chat",
            {"chat_presence": {"user_ids": {"values": []}}},
            "filters.chat_presence.user_ids.values",
        ),
        (
            "incoming_chat",
            {"chat_presence": {"user_ids": {"values": [1]}}},
            "filters.chat_presence.user_ids.values",
        ),
        ("incoming_chat", {"chat_presence": {"my_bots": 1}}, "filters.chat_presence.my_bots"),
        ("incoming_chat", {"chat_presence": {"bots": True}}, "filters.chat_presence.bots"),
        ("incoming_chat", {"source_type": ["my_client"]}, "filters.source_type"),  # v3.4+ only
        ("agent_deleted", {"agent_ids": {"values": ["a"], "exclude_values": ["b"]}}, "filters.agent_ids"),
        ("incoming_chat", {"agent_ids": {"values": ["a"]}}, "filters.agent_ids"),
        ("customer_session_fields_updated", {"only_my_chats": True}, "filters.only_my_chats"),
        ("incoming_chat", [], "filters"),
        ("no_such_action", None, "action"),
    ],
)
def test_registration_refuses(action: str, filters: Any, field: str) -> None:
    assert refused(action, filters).field == field


def test_registration_accepts_and_normalises() -> None:
    filters, extra = validate_registration(
        "incoming_event",
        {
            "author_type": "customer",
            "only_my_chats": True,
            "chat_presence": {"user_ids": {"exclude_values": ["a"]}, "my_bots": True},
        },
        ["chat_presence_user_ids", "chat_properties"],
        "v3.3",
    )
    assert filters["chat_presence"] == {"user_ids": {"exclude_values": ["a"]}, "my_bots": True}
    assert extra == ["chat_properties", "chat_presence_user_ids"]
    filters, _ = validate_registration(
        "incoming_chat", {"source_type": ["system", "my_client"]}, None, "v3.5"
    )
    assert filters == {"source_type": ["my_client", "system"]}
    assert validate_registration("agent_deleted", {"agent_ids": {"values": ["a"]}}, None, "v3.3")[0] == {
        "agent_ids": {"values": ["a"]}
    }


@pytest.mark.parametrize("action", ["agent_status_changed", "agent_deleted", "incoming_customer"])
def test_additional_data_is_refused_for_some_actions(action: str) -> None:
    if action in lc.ACTION_FILTERS:
        assert refused(action, None, ["chat_properties"]).field == "additional_data"
    else:
        assert refused(action, None, ["chat_properties"]).field == "action"


def test_additional_data_items_are_checked() -> None:
    assert refused("incoming_chat", None, ["chat_users"]).field == "additional_data"
    assert refused("incoming_chat", None, "chat_properties").field == "additional_data"


def test_webhook_names_lists_every_action_with_its_filters() -> None:
    names = {n["action"]: n for n in lc.webhook_names("v3.3")}
    assert names["incoming_chat"] == {
        "action": "incoming_chat",
        "filters": ["chat_presence", "only_my_chats"],
        "additional_data": ["chat_properties", "chat_presence_user_ids"],
    }
    assert names["incoming_event"]["filters"] == ["author_type", "chat_presence", "only_my_chats"]
    assert names["agent_deleted"] == {
        "action": "agent_deleted",
        "filters": ["agent_ids"],
        "additional_data": [],
    }
    assert "source_type" in {n["action"]: n for n in lc.webhook_names("v3.4")}["incoming_chat"]["filters"]


# --------------------------------------------------------------------------------------- matching


def chat_ctx(*users: dict[str, Any], source: str | None = None) -> EventContext:
    return EventContext(chat_users=users, source_client_id=source)


@pytest.mark.parametrize(
    ("rule", "users", "expected"),
    [
        ({"user_ids": {"values": ["agent@x.com"]}}, (AGENT, CUSTOMER), True),
        ({"user_ids": {"values": ["other"]}}, (AGENT, CUSTOMER), False),
        ({"user_ids": {"exclude_values": ["agent@x.com"]}}, (AGENT, CUSTOMER), False),
        ({"user_ids": {"exclude_values": ["other"]}}, (AGENT, CUSTOMER), True),
        ({"my_bots": True}, (MY_BOT, CUSTOMER), True),
        ({"my_bots": True}, (OTHER_BOT, CUSTOMER), False),
        ({"my_bots": True, "user_ids": {"values": ["other"]}}, (MY_BOT,), True),
        ({"my_bots": False}, (CUSTOMER,), True),
    ],
)
def test_chat_presence(rule: dict[str, Any], users: tuple[dict[str, Any], ...], expected: bool) -> None:
    assert matches({"chat_presence": rule}, OWNER, chat_ctx(*users)) is expected


def test_chat_presence_without_known_users_does_not_match() -> None:
    assert not matches({"chat_presence": {"user_ids": {"exclude_values": ["x"]}}}, OWNER, EventContext())


def test_only_my_chats_and_source_type() -> None:
    mine, theirs, system = chat_ctx(source=OWNER), chat_ctx(source="other"), chat_ctx()
    assert matches({"only_my_chats": True}, OWNER, mine)
    assert not matches({"only_my_chats": True}, OWNER, theirs)
    assert not matches({"only_my_chats": True}, OWNER, system)
    assert matches({"only_my_chats": False}, OWNER, theirs)
    assert matches({"source_type": ["other_clients", "system"]}, OWNER, theirs)
    assert matches({"source_type": ["other_clients", "system"]}, OWNER, system)
    assert not matches({"source_type": ["other_clients", "system"]}, OWNER, mine)


def test_author_type_comes_from_the_event_author_among_the_chat_users() -> None:
    payload = {"chat_id": "c", "thread_id": "t", "event": {"author_id": "cust-1", "type": "message"}}
    ctx = event_context("incoming_event", payload, {"chat_users": [AGENT, CUSTOMER]})
    assert ctx.author_type == "customer"
    assert matches({"author_type": "customer"}, OWNER, ctx)
    assert not matches({"author_type": "agent"}, OWNER, ctx)
    # An explicit author_type wins; nothing known matches nothing.
    assert event_context("incoming_event", payload, {"author_type": "agent"}).author_type == "agent"
    assert not matches({"author_type": "customer"}, OWNER, event_context("incoming_event", payload, None))


def test_agent_ids() -> None:
    ctx = event_context("agent_deleted", {"agent_id": "a@x.com"}, None)
    assert matches({"agent_ids": {"values": ["a@x.com"]}}, OWNER, ctx)
    assert not matches({"agent_ids": {"values": ["b@x.com"]}}, OWNER, ctx)
    assert not matches({"agent_ids": {"exclude_values": ["a@x.com"]}}, OWNER, ctx)


def test_incoming_chat_context_comes_from_the_payload() -> None:
    payload = {"chat": {"id": "c", "users": [AGENT, CUSTOMER], "properties": {"p": {"k": 1}}}}
    ctx = event_context("incoming_chat", payload, None)
    assert ctx.user_ids() == ["agent@x.com", "cust-1"]
    assert ctx.stored() == {
        "chat_properties": {"p": {"k": 1}},
        "chat_presence_user_ids": ["agent@x.com", "cust-1"],
    }
    # What the producer gives wins over the payload.
    given = event_context("incoming_chat", payload, {"chat_users": [CUSTOMER], "chat_properties": {}})
    assert given.stored() == {"chat_properties": {}, "chat_presence_user_ids": ["cust-1"]}
    assert event_context("thread_tagged", {"chat_id": "c"}, None).stored() is None


def test_license_value() -> None:
    assert lc.license_value("104130623", "v3.3") == ("license_id", 104130623)
    assert lc.license_value("acct-1", "v3.3") == ("license_id", "acct-1")
    assert lc.license_value("104130623", "v3.6") == ("organization_id", "104130623")


# ------------------------------------------------------------------------- issue 15: LiveChat's docs


@pytest.mark.parametrize(
    "action",
    [
        "chat_properties_updated",
        "chat_properties_deleted",
        "thread_properties_updated",
        "thread_properties_deleted",
        "event_properties_updated",
        "event_properties_deleted",
        "thread_tagged",
        "thread_untagged",
        "chat_transferred",
    ],
)
def test_v33_action_table_gives_chat_filters_to_properties_tags_and_transfers(action: str) -> None:
    rule = {"chat_presence": {"user_ids": {"values": ["agent@x.com"]}}, "only_my_chats": True}
    filters, _ = validate_registration(action, rule, None, "v3.3")
    assert filters == rule
    names = {n["action"]: n["filters"] for n in lc.webhook_names("v3.3")}
    assert names[action] == ["chat_presence", "only_my_chats"]


def test_each_version_has_its_own_actions() -> None:
    def actions(version: str) -> set[str]:
        return {n["action"] for n in lc.webhook_names(version)}

    assert {"chat_transferred", "chat_access_granted", "chat_access_revoked"} <= actions("v3.3")
    assert "chat_access_updated" not in actions("v3.3") and "agent_created" not in actions("v3.3")
    assert "chat_access_updated" in actions("v3.4") and "chat_access_granted" not in actions("v3.4")
    assert {"agent_created", "bot_deleted", "group_updated", "auto_access_added"} <= actions("v3.4")
    assert "tag_created" not in actions("v3.4") and "tag_created" in actions("v3.5")
    assert "incoming_customer" in actions("v3.5") and "incoming_customer" not in actions("v3.6")
    assert actions("v3.7") == actions("v3.6")
    assert refused("chat_access_granted", version="v3.7").field == "action"
    assert refused("tag_created", version="v3.4").field == "action"
    validate_registration("tag_created", None, None, "v3.7")


def test_account_actions_take_no_additional_data() -> None:
    assert refused("agent_created", None, ["chat_properties"], "v3.6").field == "additional_data"


def test_bot_webhooks_fire_only_for_chats_their_bots_are_in() -> None:
    assert matches({}, OWNER, chat_ctx(MY_BOT, CUSTOMER), "bot")
    assert not matches({}, OWNER, chat_ctx(OTHER_BOT, CUSTOMER), "bot")
    assert not matches({}, OWNER, EventContext(), "bot")  # chat users unknown: fails closed
    assert matches({}, OWNER, chat_ctx(OTHER_BOT, CUSTOMER), "license")


def test_license_webhooks_are_on_until_turned_off() -> None:
    assert lc.license_webhooks_on(None)  # installed, never switched
    assert lc.license_webhooks_on(True)
    assert not lc.license_webhooks_on(False)


def test_agent_deleted_names_the_agent_id_or_agent_id() -> None:
    assert event_context("agent_deleted", {"id": "a@x.com"}, None).agent_id == "a@x.com"
    assert event_context("agent_deleted", {"agent_id": "a@x.com"}, None).agent_id == "a@x.com"


def test_a_saved_context_restores_what_publish_matched_on() -> None:
    payload = {"chat": {"id": "c", "users": [CUSTOMER]}}
    given = {"source_client_id": OWNER, "chat_users": [AGENT]}
    ctx = event_context("incoming_chat", payload, given)
    saved = saved_context(ctx, given)
    assert saved is not None and saved["given"] == given
    assert restored_context("incoming_chat", payload, saved) == ctx
    # Without a producer's context only the rendered part is kept, and the payload says the rest.
    plain = event_context("incoming_chat", payload, None)
    assert saved_context(plain, None) == plain.stored()
    assert restored_context("incoming_chat", payload, plain.stored()) == plain
