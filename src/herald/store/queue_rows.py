"""Row shapes the queue's backend modules take, as plain tuples (cheap to build, cheap to bind)."""

from __future__ import annotations

# (id, delivery_id, account_id, attempt, attempted_at, duration_ms, status_code, error_kind, error_message,
#  response_body, request_headers)
AttemptRow = tuple[str, str, str, int, float, float, int | None, str | None, str | None, str | None, str]
# (seq, lease, available_at, attempts)
Retry = tuple[int, int, float, int]
# (delivery_id, attempted_at, status_code, error_kind, next_attempt_at, status, finished_at)
DeliveryUpdate = tuple[str, float, int | None, str | None, float | None, str, float | None]
