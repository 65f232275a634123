"""Profiles: envelope bytes, headers and signatures, success codes and retry policy choice."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from collections.abc import Callable

import orjson
import pytest
from standardwebhooks import Webhook

from herald.domain.models import ClaimedDelivery, Endpoint
from herald.domain.profiles import (
    DELIVERY_ID_HEADER,
    PROFILES,
    LivePersonConnectorProfile,
    StandardProfile,
    get_profile,
    iso_timestamp,
    liveperson_base_type,
)
from herald.domain.retry import FixedIntervalRetry, NoRetry, RetryConfig, ScheduleRetry, TimeToLiveRetry
from herald.domain.signing import generate_whsec

MakeClaimed = Callable[..., ClaimedDelivery]  # the make_claimed fixture (tests/unit/conftest.py)
TS = 1_700_000_000.123  # 2023-11-14T22:13:20.123Z, the make_claimed default


def standard_endpoint(secret: str | None = None) -> Endpoint:
    return Endpoint("sub_1", "https://example.com/hook", "standard", secret or generate_whsec(), None)


def lp_endpoint(secret: str = "client-secret-xyz", client_id: str | None = "client-id-1") -> Endpoint:
    return Endpoint("sub_1", "https://lp.example.com/hook", "liveperson-connector", secret, client_id)


def test_iso_timestamp() -> None:
    assert iso_timestamp(TS) == "2023-11-14T22:13:20.123Z"
    assert iso_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_standard_body_is_exact_envelope_with_raw_data(make_claimed: MakeClaimed) -> None:
    delivery = make_claimed()
    request = StandardProfile().render(delivery, standard_endpoint(), int(time.time()))
    assert request.body == (
        b'{"type":"order.created","timestamp":"2023-11-14T22:13:20.123Z","data":{"b": 1, "a": [1, 2.50]}}'
    )
    assert orjson.loads(request.body)["data"] == {"b": 1, "a": [1, 2.5]}
    assert request.url == "https://example.com/hook"


def test_standard_type_is_json_escaped(make_claimed: MakeClaimed) -> None:
    request = StandardProfile().render(
        make_claimed(event_type='we"ird'), standard_endpoint(), int(time.time())
    )
    assert orjson.loads(request.body)["type"] == 'we"ird'


def test_standard_headers_verify_with_official_library(make_claimed: MakeClaimed) -> None:
    secret = generate_whsec()
    now = int(time.time())
    delivery = make_claimed()
    request = StandardProfile().render(delivery, standard_endpoint(secret), now)
    headers = request.headers
    assert headers["webhook-id"] == delivery.delivery_id
    assert headers["webhook-timestamp"] == str(now)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Herald/")
    payload = Webhook(secret).verify(request.body, headers)
    assert payload["type"] == "order.created"


def test_standard_is_success_any_2xx() -> None:
    profile = StandardProfile()
    assert all(profile.is_success(s) for s in (200, 201, 202, 204, 299))
    assert not any(profile.is_success(s) for s in (100, 199, 300, 301, 302, 400, 404, 429, 500, 503))


@pytest.mark.parametrize(
    ("event_type", "sent_type"),
    [
        ("ms.MessagingEventNotification.ContentEvent", "ms.MessagingEventNotification"),
        ("ms.MessagingEventNotification.RichContentEvent", "ms.MessagingEventNotification"),
        ("ms.MessagingEventNotification", "ms.MessagingEventNotification"),
        ("ms.MessagingEventNotificationX", "ms.MessagingEventNotificationX"),
        ("cqm.ExConversationChangeNotification", "cqm.ExConversationChangeNotification"),
    ],
)
def test_liveperson_base_type(event_type: str, sent_type: str) -> None:
    assert liveperson_base_type(event_type) == sent_type


def test_liveperson_wraps_plain_data_as_the_one_change(make_claimed: MakeClaimed) -> None:
    delivery = make_claimed(event_type="ms.MessagingEventNotification.ContentEvent", event_data=b'{"seq": 3}')
    request = LivePersonConnectorProfile().render(delivery, lp_endpoint(), int(time.time()))
    assert request.body == (
        b'{"kind":"notification","type":"ms.MessagingEventNotification","body":{"changes":[{"seq": 3}]}}'
    )


def test_liveperson_uses_data_with_changes_as_body(make_claimed: MakeClaimed) -> None:
    data = b'{"sentTs":1,"changes":[{"seq":1},{"seq":2}]}'
    delivery = make_claimed(event_type="cqm.ExConversationChangeNotification", event_data=data)
    request = LivePersonConnectorProfile().render(delivery, lp_endpoint(), int(time.time()))
    assert request.body == (
        b'{"kind":"notification","type":"cqm.ExConversationChangeNotification","body":' + data + b"}"
    )


def test_liveperson_word_changes_as_a_value_is_not_a_body(make_claimed: MakeClaimed) -> None:
    data = b'{"note":"changes"}'
    request = LivePersonConnectorProfile().render(make_claimed(event_data=data), lp_endpoint(), 0)
    assert orjson.loads(request.body)["body"] == {"changes": [{"note": "changes"}]}


def test_liveperson_headers_and_signature(make_claimed: MakeClaimed) -> None:
    secret = "the-client-secret"
    delivery = make_claimed(account_id="le12345678")
    request = LivePersonConnectorProfile().render(delivery, lp_endpoint(secret, "cid-9"), int(time.time()))
    headers = request.headers
    expected = base64.b64encode(hmac.new(secret.encode(), request.body, hashlib.sha1).digest()).decode()
    assert headers["x-liveperson-signature"] == "sha1=" + expected
    assert headers["x-liveperson-account-id"] == "le12345678"
    assert headers["x-liveperson-client-id"] == "cid-9"
    assert headers[DELIVERY_ID_HEADER] == delivery.delivery_id
    assert headers["content-type"] == "application/json"


def test_liveperson_without_client_id_sends_empty_header(make_claimed: MakeClaimed) -> None:
    request = LivePersonConnectorProfile().render(make_claimed(), lp_endpoint(client_id=None), 0)
    assert request.headers["x-liveperson-client-id"] == ""


@pytest.mark.parametrize(
    ("status", "ok"),
    [(200, True), (201, True), (202, False), (204, False), (301, False), (400, False), (500, False)],
)
def test_liveperson_is_success_only_200_and_201(status: int, ok: bool) -> None:
    assert LivePersonConnectorProfile().is_success(status) is ok


def test_retry_policy_choices(make_claimed: MakeClaimed) -> None:
    config = RetryConfig(schedule=(1.0, 2.0), liveperson_interval=7.0, jitter=0.1)
    std, lp = StandardProfile(), LivePersonConnectorProfile()

    assert isinstance(std.retry_policy(make_claimed(manual=True), config), NoRetry)
    policy = std.retry_policy(make_claimed(max_retries=4), config)
    assert policy == ScheduleRetry((1.0, 2.0), 4, 0.1)

    assert isinstance(lp.retry_policy(make_claimed(manual=True, retention_time=600), config), NoRetry)
    assert lp.retry_policy(make_claimed(retention_time=600), config) == TimeToLiveRetry(retention_time=600)
    default = lp.retry_policy(make_claimed(), config)
    assert default == FixedIntervalRetry(0, 7.0)
    assert default.next_delay(1, 0.0) is None  # LivePerson default: no retries
    assert lp.retry_policy(make_claimed(max_retries=3), config) == FixedIntervalRetry(3, 7.0)


def test_get_profile() -> None:
    assert set(PROFILES) == {"standard", "liveperson-connector", "liveperson-data", "livechat"}
    assert isinstance(get_profile("standard"), StandardProfile)
    assert isinstance(get_profile("liveperson-connector"), LivePersonConnectorProfile)
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        get_profile("nope")


def test_render_is_deterministic_for_same_inputs(make_claimed: MakeClaimed) -> None:
    delivery = make_claimed()
    endpoint = standard_endpoint()
    a = StandardProfile().render(delivery, endpoint, 1000)
    b = StandardProfile().render(dataclasses.replace(delivery), endpoint, 1000)
    assert a == b
