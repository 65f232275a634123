"""Per-process state of authentication: the failure limiter, a short cache of installations (which
accounts an application may act on) and when each token's last use was written."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from herald.api.ratelimit import FailureLimiter
from herald.config import Settings

INSTALL_TTL = 5.0  # seconds an observed installation is trusted without asking the database again
TOUCH_EVERY = 60.0  # write a token's last_used_at at most this often


class InstallCache:
    """Remembers installations seen recently. Only positive answers are kept, so a new installation
    works at once; a deleted one stops working within INSTALL_TTL (at once in this process)."""

    def __init__(self, ttl: float = INSTALL_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}

    def known(self, application_id: str, account_id: str) -> bool:
        until = self._seen.get((application_id, account_id))
        return until is not None and until > self.clock()

    def remember(self, application_id: str, account_id: str) -> None:
        if len(self._seen) > 50_000:
            now = self.clock()
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        self._seen[(application_id, account_id)] = self.clock() + self.ttl

    def forget(self, application_id: str, account_id: str | None = None) -> None:
        for key in [k for k in self._seen if k[0] == application_id and account_id in (None, k[1])]:
            del self._seen[key]


@dataclass
class AuthState:
    limiter: FailureLimiter = field(default_factory=lambda: FailureLimiter(limit=20, window=60.0))
    installs: InstallCache = field(default_factory=InstallCache)
    oauth_token_ttl: float = 3600.0
    touched: dict[str, float] = field(default_factory=dict)

    def should_touch(self, token_id: str, now: float) -> bool:
        last = self.touched.get(token_id)
        if last is not None and now - last < TOUCH_EVERY:
            return False
        if len(self.touched) > 50_000:
            self.touched.clear()
        self.touched[token_id] = now
        return True


def auth_state(settings: Settings) -> AuthState:
    return AuthState(
        limiter=FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window),
        oauth_token_ttl=float(settings.oauth_token_ttl),
    )
