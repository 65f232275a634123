"""Row shapes the queue's backend modules take: named tuples, cheap to build and bound as they are (their
field order is the statements' column order), read by name everywhere else."""

from __future__ import annotations

from typing import NamedTuple

from herald.domain.models import AttemptRecord, DeliveryStatus


class AttemptRow(NamedTuple):
    """One attempt's log row (`attempts`)."""

    id: str
    delivery_id: str
    account_id: str
    attempt: int
    attempted_at: float
    duration_ms: float
    status_code: int | None
    error_kind: str | None
    error_message: str | None
    response_body: str | None
    request_headers: str  # JSON


class Retry(NamedTuple):
    """A queue row still ours, due again at `available_at` after `attempts` attempts."""

    seq: int
    lease: int
    available_at: float
    attempts: int


class DeliveryUpdate(NamedTuple):
    """What an attempt changes on its delivery's log row."""

    delivery_id: str
    attempted_at: float
    status_code: int | None
    error_kind: str | None
    next_attempt_at: float | None
    status: str
    finished_at: float | None


# The columns a claim returns, by name, on both backends (see queue_postgres.CLAIM, queue_sqlite.claim):
# the queue row's, then its event's (NULL for a held subscription's rows, handed straight back).
CLAIM_COLUMNS = (
    "seq", "delivery_id", "account_id", "subscription_id", "event_id", "attempts", "lease", "max_retries",
    "retention_time", "manual", "created_at", "ordering_key",
    "event_type", "event_timestamp", "event_data", "event_context",
)  # fmt: skip


def delivery_update(r: AttemptRecord, owned_finished: set[int]) -> DeliveryUpdate:
    """What the attempt changes on its delivery's log row, given the finished queue rows that were still
    ours (a lost lease means another worker holds the delivery)."""
    status = r.final_status.value
    finished_at = None if status == DeliveryStatus.PENDING.value else r.attempted_at
    if status == DeliveryStatus.DEAD.value and r.claimed.seq not in owned_finished:
        # Our lease was lost and another worker holds the delivery now: it is not dead while that one
        # may still deliver it. (A success, by contrast, is a fact and always counts.)
        status, finished_at = DeliveryStatus.PENDING.value, None
    kind = r.error_kind.value if r.error_kind else None
    return DeliveryUpdate(
        delivery_id=r.claimed.delivery_id,
        attempted_at=r.attempted_at,
        status_code=r.status_code,
        error_kind=kind,
        next_attempt_at=r.next_attempt_at,
        status=status,
        finished_at=finished_at,
    )
