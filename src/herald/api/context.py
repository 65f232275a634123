"""What request handlers need: settings, the database, the secret box, the guard, and hooks into the
dispatcher of this process (when it runs one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from herald.api.authstate import AuthState
from herald.config import Settings
from herald.dispatch.guard import AddressGuard
from herald.store.database import Database
from herald.store.secretbox import SecretBox


def _nothing(*_: object) -> None:
    return None


@dataclass
class AppContext:
    settings: Settings
    db: Database
    box: SecretBox
    guard: AddressGuard
    admin_token: str
    # Failed-auth limiter, installation cache, token last-use bookkeeping (in memory, per process).
    auth: AuthState = field(default_factory=AuthState)
    # Called after a publish commits, so an in-process dispatcher claims at once instead of polling.
    notify_published: Callable[[], None] = _nothing
    # Called after a subscription changes, so an in-process dispatcher drops its cached copy.
    subscription_changed: Callable[[str], None] = field(default=_nothing)
    # Called after a credential rotates: every subscription using it must sign with the new secret at once.
    credential_changed: Callable[[], None] = field(default=_nothing)
    # Called after an mTLS mapping changes, so an in-process dispatcher reloads its mappings at once.
    mtls_changed: Callable[[], None] = field(default=_nothing)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.herald
    return ctx
