"""The dashboard's session: a signed, HttpOnly, SameSite=Strict cookie holding the caller's token encrypted
with the secret box, plus a per-session CSRF token that every POST form must echo.

The token itself is re-checked on every request (exactly like a bearer token), so revoking it ends the
session at once; the cookie only saves typing it again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from herald.store.secretbox import SecretBox

COOKIE = "herald_ui"
MAX_AGE = 12 * 3600  # seconds a sign-in lasts


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str


def signing_key(master_keys: list[str]) -> bytes:
    """A key of its own for the cookie signature, derived from the server's master key (never the key
    itself, so a leak of one use does not expose the other)."""
    return hmac.new(master_keys[0].encode(), b"herald-ui-session-v1", hashlib.sha256).digest()


class SessionCodec:
    def __init__(self, master_keys: list[str], box: SecretBox) -> None:
        self._serializer = URLSafeTimedSerializer(signing_key(master_keys), salt="herald-ui")
        self._box = box

    def new(self, token: str) -> tuple[Session, str]:
        """A fresh session for `token` and its cookie value."""
        session = Session(token=token, csrf=secrets.token_urlsafe(24))
        value = self._serializer.dumps({"t": self._box.encrypt(token), "c": session.csrf})
        return session, value

    def read(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=MAX_AGE)
            return Session(token=self._box.decrypt(str(data["t"])), csrf=str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            # ValueError covers a box that can no longer decrypt (the master key was rotated away).
            return None


def csrf_ok(session: Session, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())
