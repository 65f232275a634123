"""Turn what the transport saw into an attempt record: success, retry at a time, or finished."""

from __future__ import annotations

import email.utils
import time

from herald.domain.models import AttemptRecord, ClaimedDelivery, ErrorKind, Request, Response, TransportError
from herald.domain.profiles import Profile
from herald.domain.retry import RETRY_AFTER_STATUSES, RetryConfig, apply_retry_after


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def decide(
    profile: Profile,
    claimed: ClaimedDelivery,
    request: Request,
    result: Response | TransportError,
    attempted_at: float,
    duration_ms: float,
    retry: RetryConfig,
) -> AttemptRecord:
    if isinstance(result, Response):
        succeeded = profile.is_success(result.status)
        status_code: int | None = result.status
        kind = None if succeeded else ErrorKind.BAD_STATUS
        message = None if succeeded else f"endpoint answered {result.status}"
        body: str | None = result.body.decode("utf-8", "replace")
        retry_after = (
            parse_retry_after(result.headers.get("retry-after"), attempted_at)
            if result.status in RETRY_AFTER_STATUSES
            else None
        )
    else:
        succeeded, status_code, kind, message, body, retry_after = (
            False,
            None,
            result.kind,
            result.message,
            None,
            None,
        )
    next_at = None
    if not succeeded:
        now = time.time()
        delay = profile.retry_policy(claimed, retry).next_delay(
            claimed.attempts + 1, now - claimed.created_at
        )
        delay = apply_retry_after(delay, retry_after, retry.retry_after_min, retry.retry_after_max)
        next_at = None if delay is None else now + delay
    return AttemptRecord(
        claimed=claimed,
        attempted_at=attempted_at,
        duration_ms=duration_ms,
        status_code=status_code,
        error_kind=kind,
        error_message=message,
        response_body=body,
        request_headers=request.headers,
        next_attempt_at=next_at,
        succeeded=succeeded,
    )


def internal_failure(claimed: ClaimedDelivery, attempted_at: float, exc: Exception) -> AttemptRecord:
    """Herald itself failed to attempt the delivery; retrying would fail the same way."""
    return AttemptRecord(
        claimed=claimed,
        attempted_at=attempted_at,
        duration_ms=0.0,
        status_code=None,
        error_kind=ErrorKind.INTERNAL,
        error_message=f"{type(exc).__name__}: {exc}"[:500],
        response_body=None,
        request_headers={},
        next_attempt_at=None,
        succeeded=False,
    )
