"""The readable log: what Herald is doing, one line per outcome that matters.

Failures are logged one line each (with the delivery, event, subscription and account ids as fields);
successes are summarised per endpoint every `summary_every` seconds (each one at debug); endpoint state
changes (failing, recovered, circuit breaker open/closed, disabled) once per change. `configure()` picks
the human format or JSON lines (HERALD_LOG_FORMAT=json) for every `herald` logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from herald.domain.models import AttemptRecord, ClaimedDelivery, Endpoint

log = logging.getLogger("herald.activity")

# Fields a record may carry (`extra=`) that the JSON format writes out as its own keys.
FIELDS = (
    "delivery_id",
    "event_id",
    "event_type",
    "subscription_id",
    "account_id",
    "url",
    "attempt",
    "status_code",
    "error_kind",
    "next_attempt_in",
    "delivered",
    "state",
    "job_id",
    "done",
    "total",
)
FORMATS = ("text", "json")
MAX_MESSAGE = 300  # characters of an error message kept in a line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ids the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str, fmt: str) -> None:
    """Set up the root handler once, in the chosen format; third-party chatter stays at warnings."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def ids(claimed: ClaimedDelivery) -> dict[str, Any]:
    """The fields every line about a delivery carries."""
    return {
        "delivery_id": claimed.delivery_id,
        "event_id": claimed.event_id,
        "event_type": claimed.event_type,
        "subscription_id": claimed.subscription_id,
        "account_id": claimed.account_id,
    }


def describe_wait(seconds: float) -> str:
    """5s, 5m, 2h: the next retry's distance, rounded as a person reads it."""
    if seconds < 90:
        return f"{max(0, round(seconds))}s"
    if seconds < 5400:
        return f"{round(seconds / 60)}m"
    return f"{round(seconds / 3600)}h"


def outcome_text(record: AttemptRecord) -> str:
    """What went wrong, in one phrase: the status code or the error kind, with its message."""
    if record.status_code is not None and record.error_kind is not None:
        return f"HTTP {record.status_code}"
    kind = record.error_kind.value if record.error_kind else "failed"
    # One line, bounded: a transport message may span lines or carry a whole response.
    message = " ".join((record.error_message or "").split())[:MAX_MESSAGE]
    return f"{kind}: {message}" if message else kind


@dataclass(slots=True)
class _Endpoint:
    url: str
    account_id: str
    delivered: int = 0
    total_ms: float = 0.0
    failures: int = 0  # consecutive
    failing: bool = False
    breaker_open: bool = False
    disabled_seen: bool = False


class ActivityLog:
    def __init__(
        self,
        failing_after: int = 4,
        summary_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failing_after = max(1, failing_after)
        self.summary_every = summary_every
        self.clock = clock
        self._endpoints: dict[str, _Endpoint] = {}
        self._next_summary = clock() + summary_every

    def _endpoint(self, endpoint: Endpoint, account_id: str) -> _Endpoint:
        st = self._endpoints.get(endpoint.subscription_id)
        if st is None or st.url != endpoint.url:
            st = self._endpoints[endpoint.subscription_id] = _Endpoint(endpoint.url, account_id)
        return st

    def attempt(self, record: AttemptRecord, endpoint: Endpoint, breaker_open: bool = False) -> None:
        """One attempt's outcome, as the dispatcher decided it."""
        c = record.claimed
        st = self._endpoint(endpoint, c.account_id)
        fields = ids(c) | {"url": endpoint.url, "attempt": c.attempts + 1, "status_code": record.status_code}
        if record.succeeded:
            st.delivered += 1
            st.total_ms += record.duration_ms
            st.failures = 0
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "delivered %s (%s) to %s in %.0f ms",
                    c.delivery_id, c.event_type, endpoint.url, record.duration_ms, extra=fields,
                )  # fmt: skip
            if st.failing:
                st.failing = False
                log.info("endpoint %s recovered", endpoint.url, extra=fields | {"state": "recovered"})
        else:
            st.failures += 1
            fields["error_kind"] = record.error_kind.value if record.error_kind else None
            if record.next_attempt_at is not None:
                wait = max(0.0, record.next_attempt_at - time.time())
                fields["next_attempt_in"] = round(wait, 1)
                then = f"retry in {describe_wait(wait)}"
            else:
                then = f"gave up after {c.attempts + 1} attempt{'s' if c.attempts else ''}"
            log.warning(
                "delivery %s (%s) to %s failed: %s; %s",
                c.delivery_id, c.event_type, endpoint.url, outcome_text(record), then, extra=fields,
            )  # fmt: skip
            if not st.failing and st.failures >= self.failing_after:
                st.failing = True
                log.warning(
                    "endpoint %s is failing: %d failures in a row",
                    endpoint.url, st.failures, extra=fields | {"state": "failing"},
                )  # fmt: skip
        if breaker_open != st.breaker_open:
            st.breaker_open = breaker_open
            state = "open" if breaker_open else "closed"
            why = "sending paused until a probe succeeds" if breaker_open else "sending again"
            log.warning(
                "endpoint %s: circuit breaker %s (%s)", endpoint.url, state, why,
                extra={"subscription_id": endpoint.subscription_id, "url": endpoint.url,
                       "state": f"breaker_{state}"},
            )  # fmt: skip
        self.tick()

    def disabled(self, endpoint: Endpoint, account_id: str) -> None:
        """A delivery found its endpoint disabled: said once, until the endpoint is seen enabled again."""
        st = self._endpoint(endpoint, account_id)
        if not st.disabled_seen:
            st.disabled_seen = True
            log.warning(
                "endpoint %s is disabled: its deliveries wait until it is enabled again", endpoint.url,
                extra={"subscription_id": endpoint.subscription_id, "account_id": account_id,
                       "url": endpoint.url, "state": "disabled"},
            )  # fmt: skip

    def enabled(self, endpoint: Endpoint) -> None:
        st = self._endpoints.get(endpoint.subscription_id)
        if st is not None and st.disabled_seen:
            st.disabled_seen = False
            log.info(
                "endpoint %s is enabled again", endpoint.url,
                extra={"subscription_id": endpoint.subscription_id, "url": endpoint.url, "state": "enabled"},
            )  # fmt: skip

    def tick(self) -> None:
        """Write the success summaries when they are due (cheap when they are not)."""
        now = self.clock()
        if now < self._next_summary:
            return
        self._next_summary = now + self.summary_every
        for sub_id, st in self._endpoints.items():
            if st.delivered:
                log.info(
                    "%s (%s): %d delivered in the last %.0fs, %.0f ms average",
                    st.url, st.account_id, st.delivered, self.summary_every, st.total_ms / st.delivered,
                    extra={"subscription_id": sub_id, "account_id": st.account_id, "url": st.url,
                           "delivered": st.delivered},
                )  # fmt: skip
                st.delivered, st.total_ms = 0, 0.0
        # Forget quiet endpoints with nothing to report, so the table stays as small as the busy set.
        for sub_id in [k for k, st in self._endpoints.items() if _quiet(st)]:
            del self._endpoints[sub_id]


def _quiet(st: _Endpoint) -> bool:
    return not (st.delivered or st.failures or st.failing or st.breaker_open or st.disabled_seen)
