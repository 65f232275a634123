"""Profiles: a subscription's wire format — envelope, headers, what counts as success, default retries.

A profile renders the body bytes once and signs exactly those bytes. Adding a wire format means adding a
`Profile` here and registering it in `PROFILES`; nothing else in the dispatcher changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Protocol

import orjson

from herald import __version__
from herald.domain import catalog, livechat
from herald.domain.models import ClaimedDelivery, Endpoint, Request
from herald.domain.retry import (
    LIVECHAT_JITTER,
    FixedIntervalRetry,
    NoRetry,
    RetryConfig,
    RetryPolicy,
    ScheduleRetry,
    TimeToLiveRetry,
)
from herald.domain.signing import liveperson_signature, standard_signature, whsec_key

USER_AGENT = f"Herald/{__version__}"
DELIVERY_ID_HEADER = "x-herald-delivery-id"


class Profile(Protocol):
    name: ClassVar[str]
    max_retries_limit: ClassVar[int]

    def render(self, delivery: ClaimedDelivery, endpoint: Endpoint, now: int) -> Request:
        """Build the exact request: body bytes once, headers signed over those bytes."""

    def is_success(self, status: int) -> bool: ...

    def retry_policy(self, delivery: ClaimedDelivery, config: RetryConfig) -> RetryPolicy: ...


def with_credential(
    headers: dict[str, str], endpoint: Endpoint, delivery: ClaimedDelivery, now: int, body: bytes
) -> dict[str, str]:
    """The subscription's credential signs the same bytes; its headers win over the profile's defaults
    (an lp-signature credential replaces the connector signature, a standard one the whsec_ signature)."""
    if endpoint.credential is not None:
        headers.update(endpoint.credential.headers(delivery.delivery_id, now, body))
    return headers


def iso_timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StandardProfile:
    """Standard Webhooks: `{"type","timestamp","data"}` signed `v1,` with the subscription's whsec_ key."""

    name: ClassVar[str] = "standard"
    max_retries_limit: ClassVar[int] = 50

    def render(self, delivery: ClaimedDelivery, endpoint: Endpoint, now: int) -> Request:
        body = b"".join(
            (
                b'{"type":',
                orjson.dumps(delivery.event_type),
                b',"timestamp":"',
                iso_timestamp(delivery.event_timestamp).encode(),
                b'","data":',
                delivery.event_data,
                b"}",
            )
        )
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(now),
            "webhook-signature": standard_signature(
                whsec_key(endpoint.secret), delivery.delivery_id, now, body
            ),
        }
        return Request(endpoint.url, body, with_credential(headers, endpoint, delivery, now, body))

    def is_success(self, status: int) -> bool:
        return 200 <= status < 300

    def retry_policy(self, delivery: ClaimedDelivery, config: RetryConfig) -> RetryPolicy:
        if delivery.manual:
            return NoRetry()
        return ScheduleRetry(config.schedule, delivery.max_retries, config.jitter)


def liveperson_base_type(event_type: str) -> str:
    """`ms.MessagingEventNotification.ContentEvent` is sent as type `ms.MessagingEventNotification`."""
    prefix = "ms.MessagingEventNotification"
    return prefix if event_type.startswith(prefix + ".") else event_type


class LivePersonConnectorProfile:
    """LivePerson Connector notifications: `{"kind":"notification","type","body":{"changes":[…]}}`.

    Signed `sha1=<base64 HMAC-SHA1>` with the application's client secret; only 200 and 201 succeed.
    Event data that already holds `changes` is the body; any other data is sent as the one change.
    """

    name: ClassVar[str] = "liveperson-connector"
    max_retries_limit: ClassVar[int] = 5

    def render(self, delivery: ClaimedDelivery, endpoint: Endpoint, now: int) -> Request:
        data = delivery.event_data
        if b'"changes"' in data and isinstance(loaded := orjson.loads(data), dict) and "changes" in loaded:
            body_part = data
        else:
            body_part = b'{"changes":[' + data + b"]}"
        body = b"".join(
            (
                b'{"kind":"notification","type":',
                orjson.dumps(liveperson_base_type(delivery.event_type)),
                b',"body":',
                body_part,
                b"}",
            )
        )
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "x-liveperson-account-id": delivery.account_id,
            "x-liveperson-client-id": endpoint.client_id or "",
            "x-liveperson-signature": liveperson_signature(endpoint.secret, body),
            DELIVERY_ID_HEADER: delivery.delivery_id,
        }
        return Request(endpoint.url, body, with_credential(headers, endpoint, delivery, now, body))

    def is_success(self, status: int) -> bool:
        return status in (200, 201)

    def retry_policy(self, delivery: ClaimedDelivery, config: RetryConfig) -> RetryPolicy:
        if delivery.manual:
            return NoRetry()
        if delivery.retention_time:
            if delivery.max_retries == 0:
                # An explicit `max_retries: 0` under TTL: dropped at its first failure (liveperson.md).
                return NoRetry()
            return TimeToLiveRetry(retention_time=delivery.retention_time, first=config.ttl_backoff)
        return FixedIntervalRetry(delivery.max_retries or 0, config.liveperson_interval)


class LivePersonDataProfile:
    """LivePerson Data Transporter: `{"commonHeader": {…}, "data": …}`, authenticated by the
    subscription's credential (lp-signature, api-key, bearer or standard); 200 and 201 succeed."""

    name: ClassVar[str] = "liveperson-data"
    max_retries_limit: ClassVar[int] = 50

    def render(self, delivery: ClaimedDelivery, endpoint: Endpoint, now: int) -> Request:
        common = {
            "accountId": delivery.account_id,
            "uid": delivery.event_id,
            "schemaVersion": catalog.schema_version(delivery.event_type),
            "eventTimestamp": int(delivery.event_timestamp * 1000),
            "eventType": delivery.event_type,
            "webhookSubscriptionId": delivery.subscription_id,
        }
        body = b'{"commonHeader":' + orjson.dumps(common) + b',"data":' + delivery.event_data + b"}"
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            DELIVERY_ID_HEADER: delivery.delivery_id,
        }
        return Request(endpoint.url, body, with_credential(headers, endpoint, delivery, now, body))

    def is_success(self, status: int) -> bool:
        return status in (200, 201)

    def retry_policy(self, delivery: ClaimedDelivery, config: RetryConfig) -> RetryPolicy:
        if delivery.manual:
            return NoRetry()
        return ScheduleRetry(config.schedule, delivery.max_retries, config.jitter)


class LiveChatProfile:
    """LiveChat Configuration API webhooks: `{"webhook_id","secret_key","action","license_id","payload",
    "additional_data"}`. The secret travels in the body (no signature header); only 200 succeeds; a 10 s
    read timeout; up to 3 retries within about a minute. From v3.4 `license_id` is `organization_id`."""

    name: ClassVar[str] = "livechat"
    max_retries_limit: ClassVar[int] = 3
    read_timeout: ClassVar[float] = 10.0

    def render(self, delivery: ClaimedDelivery, endpoint: Endpoint, now: int) -> Request:
        key, value = livechat.license_value(delivery.account_id, endpoint.livechat_version or "v3.3")
        stored = orjson.loads(delivery.event_context) if delivery.event_context else None
        extra = livechat.additional_data(endpoint.additional_data, stored)
        body = b"".join(
            (
                b'{"webhook_id":',
                orjson.dumps(delivery.subscription_id),
                b',"secret_key":',
                orjson.dumps(endpoint.secret),
                b',"action":',
                orjson.dumps(delivery.event_type),
                b',"',
                key.encode(),
                b'":',
                orjson.dumps(value),
                b',"payload":',
                delivery.event_data,
                b',"additional_data":',
                orjson.dumps(extra),
                b"}",
            )
        )
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            DELIVERY_ID_HEADER: delivery.delivery_id,
        }
        return Request(
            endpoint.url,
            body,
            with_credential(headers, endpoint, delivery, now, body),
            read_timeout=self.read_timeout,
        )

    def is_success(self, status: int) -> bool:
        return status == 200

    def retry_policy(self, delivery: ClaimedDelivery, config: RetryConfig) -> RetryPolicy:
        if delivery.manual:
            return NoRetry()
        return ScheduleRetry(config.livechat_schedule, delivery.max_retries, LIVECHAT_JITTER)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (StandardProfile(), LivePersonConnectorProfile(), LivePersonDataProfile(), LiveChatProfile())
}
# Profiles that cannot authenticate a delivery without a credential.
NEEDS_CREDENTIAL = frozenset({LivePersonDataProfile.name})


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
