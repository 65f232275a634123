"""Operational events: what Herald tells an application about its own webhooks (Svix's names).

Each type has a JSON Schema for its `data` (listed at `GET /v1/operational-event-types`). They are delivered
as Standard Webhooks (`{"type", "timestamp", "data"}`) to the application's `operational_url`.
"""

from __future__ import annotations

from typing import Any

ENDPOINT_DISABLED = "endpoint.disabled"
ENDPOINT_ENABLED = "endpoint.enabled"
ATTEMPT_EXHAUSTED = "message.attempt.exhausted"
ATTEMPT_FAILING = "message.attempt.failing"
ATTEMPT_RECOVERED = "message.attempt.recovered"
INSTALLATION_STATE_CHANGED = "installation.state_changed"

# Why a delivery is exhausted: its automatic retries ran out, or its time to live did while its endpoint
# was disabled (dead without another attempt).
RETRIES_EXHAUSTED = "retries_exhausted"
EXPIRED = "expired"

# The system subscription of an application's operational URL is owned by this pseudo-account: no API
# path can name it (account ids start with a letter or digit) and no publish can route to it.
SYSTEM_ACCOUNT_PREFIX = "~ops:"


def system_account(application_id: str) -> str:
    return SYSTEM_ACCOUNT_PREFIX + application_id


def is_system_account(account_id: str | None) -> bool:
    return account_id is not None and account_id.startswith(SYSTEM_ACCOUNT_PREFIX)


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_ENDPOINT = {
    "subscription_id": _STR,
    "application_id": _NSTR,
    "account_id": _NSTR,
    "url": _STR,
}
_ATTEMPT = {
    **_ENDPOINT,
    "delivery_id": _STR,
    "event_id": _STR,
    "event_type": _STR,
    "attempts": {"type": "integer", "minimum": 1},
    "last_status_code": {"type": ["integer", "null"]},
    "last_error_kind": _NSTR,
}


def _schema(description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "description": description,
        "properties": props,
        "required": required,
    }


TYPES: dict[str, dict[str, Any]] = {
    ENDPOINT_DISABLED: _schema(
        "An endpoint (subscription) was disabled: by its owner, because it answered 410 Gone, because it "
        "was slow (smoothed response time over the threshold for the whole slow window) or because it "
        "kept failing (no success for the failure window, or too many consecutive failures). Its queued "
        "deliveries wait until it is enabled again.",
        {
            **_ENDPOINT,
            "reason": _STR,
            "trigger": {"enum": ["manual", "gone", "slow", "failing"]},
            "at": _TIME,
        },
        ["subscription_id", "url", "reason", "trigger", "at"],
    ),
    ENDPOINT_ENABLED: _schema(
        "An endpoint was enabled again; its waiting deliveries resume.",
        {**_ENDPOINT, "at": _TIME},
        ["subscription_id", "url", "at"],
    ),
    ATTEMPT_EXHAUSTED: _schema(
        "A delivery used up its automatic retries and is dead (manual resends do not count); or its time to "
        "live ran out while its endpoint was disabled (`reason` says which; then `attempts` may be 0).",
        {
            **_ATTEMPT,
            "attempts": {"type": "integer", "minimum": 0},
            "reason": {"enum": [RETRIES_EXHAUSTED, EXPIRED]},
        },
        ["subscription_id", "delivery_id", "event_id", "attempts", "reason"],
    ),
    ATTEMPT_FAILING: _schema(
        "An endpoint's attempts have failed this many times in a row (HERALD_FAILING_AFTER, default 4); "
        "sent once per failing streak, naming the delivery whose attempt crossed the threshold.",
        {**_ATTEMPT, "consecutive_failures": {"type": "integer", "minimum": 1}},
        ["subscription_id", "delivery_id", "consecutive_failures"],
    ),
    ATTEMPT_RECOVERED: _schema(
        "The first successful attempt on an endpoint after it was announced as failing.",
        _ATTEMPT,
        ["subscription_id", "delivery_id"],
    ),
    INSTALLATION_STATE_CHANGED: _schema(
        "A LivePerson installation's delivery state changed (UP, FAILED, IN_TRANSITION, RECOVERED).",
        {
            "installation_id": _STR,
            "application_id": _NSTR,
            "account_id": _NSTR,
            "state": {"enum": ["UP", "FAILED", "IN_TRANSITION", "RECOVERED"]},
            "previous_state": {"enum": ["UP", "FAILED", "IN_TRANSITION", "RECOVERED", None]},
            "reason": _STR,
            "changed_at": _TIME,
        },
        ["installation_id", "state"],
    ),
}
