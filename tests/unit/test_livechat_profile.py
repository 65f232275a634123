"""The livechat profile: the exact envelope bytes, headers, success rule, timeout and retry policy."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from herald.domain.models import ClaimedDelivery, Endpoint
from herald.domain.profiles import DELIVERY_ID_HEADER, LiveChatProfile, get_profile
from herald.domain.retry import LIVECHAT_SCHEDULE, NoRetry, RetryConfig, ScheduleRetry

MakeClaimed = Callable[..., ClaimedDelivery]

PAYLOAD = b'{"chat":{"id":"PJ0MRSHTDG","users":[],"properties":{}}}'


def endpoint(version: str = "v3.3", additional: tuple[str, ...] = ()) -> Endpoint:
    return Endpoint(
        "sub_lc1",
        "https://example.com/hook",
        "livechat",
        "laudla991lamda0pnoaa0",
        None,
        livechat_version=version,
        additional_data=additional,
    )


def test_body_is_the_livechat_envelope_byte_for_byte(make_claimed: MakeClaimed) -> None:
    delivery = make_claimed(
        subscription_id="sub_lc1", account_id="104130623", event_type="incoming_chat", event_data=PAYLOAD
    )
    request = LiveChatProfile().render(delivery, endpoint(), 1000)
    assert request.body == (
        b'{"webhook_id":"sub_lc1","secret_key":"laudla991lamda0pnoaa0","action":"incoming_chat",'
        b'"license_id":104130623,"payload":' + PAYLOAD + b',"additional_data":{}}'
    )
    # No signature header: the secret travels in the body.
    assert request.headers == {
        "content-type": "application/json",
        "user-agent": request.headers["user-agent"],
        DELIVERY_ID_HEADER: delivery.delivery_id,
    }
    assert request.read_timeout == 10.0


def test_license_id_stays_a_string_when_the_account_is_not_numeric(make_claimed: MakeClaimed) -> None:
    request = LiveChatProfile().render(make_claimed(account_id="acct-1", event_data=b"{}"), endpoint(), 0)
    assert orjson.loads(request.body)["license_id"] == "acct-1"


def test_v34_names_it_organization_id(make_claimed: MakeClaimed) -> None:
    request = LiveChatProfile().render(make_claimed(account_id="104130623"), endpoint("v3.4"), 0)
    body = orjson.loads(request.body)
    assert list(body) == [
        "webhook_id",
        "secret_key",
        "action",
        "organization_id",
        "payload",
        "additional_data",
    ]
    assert body["organization_id"] == "104130623"


def test_additional_data_is_rendered_from_the_event_context(make_claimed: MakeClaimed) -> None:
    ctx = orjson.dumps({"chat_properties": {"routing": {"pinned": True}}, "chat_presence_user_ids": ["a"]})
    wanted = ("chat_properties", "chat_presence_user_ids")
    request = LiveChatProfile().render(make_claimed(event_context=ctx), endpoint(additional=wanted), 0)
    assert orjson.loads(request.body)["additional_data"] == {
        "chat_properties": {"routing": {"pinned": True}},
        "chat_presence_user_ids": ["a"],
    }
    # Asked for but unknown: empty values, never missing keys.
    request = LiveChatProfile().render(make_claimed(), endpoint(additional=wanted), 0)
    assert orjson.loads(request.body)["additional_data"] == {
        "chat_properties": {},
        "chat_presence_user_ids": [],
    }
    # Only what was asked for.
    request = LiveChatProfile().render(make_claimed(event_context=ctx), endpoint(additional=wanted[1:]), 0)
    assert orjson.loads(request.body)["additional_data"] == {"chat_presence_user_ids": ["a"]}


def test_only_200_succeeds() -> None:
    profile = get_profile("livechat")
    assert profile.is_success(200)
    assert not any(profile.is_success(s) for s in (201, 202, 204, 299, 301, 400, 500))


def test_retries_three_times_within_about_a_minute(make_claimed: MakeClaimed) -> None:
    profile = LiveChatProfile()
    policy = profile.retry_policy(make_claimed(), RetryConfig())
    assert isinstance(policy, ScheduleRetry) and policy.schedule == LIVECHAT_SCHEDULE
    delays = [policy.next_delay(n, 0.0) for n in (1, 2, 3)]
    assert all(d is not None for d in delays)
    assert sum(d for d in delays if d is not None) <= 66  # 60 s ± 10 % jitter
    assert policy.next_delay(4, 0.0) is None
    assert isinstance(profile.retry_policy(make_claimed(manual=True), RetryConfig()), NoRetry)
