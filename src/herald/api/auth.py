"""Authentication and tenant scoping.

Three kinds of caller (`Principal`):
- **admin** — the admin token (HERALD_ADMIN_TOKEN): every application and account, every scope.
- **application** — an OAuth client-credentials token: its own application, and the accounts it is
  installed in (only the bound one when the token was issued for an `account_id`), within its scopes.
- **account** — a personal access token: its own account, within its scopes.

The 404-versus-403 rule: an object of another tenant answers 404, exactly as if it did not exist, so ids
never leak; a missing scope on an object the caller may see answers 403 naming the scope. Failed
authentication answers 401 without saying which part was wrong, and repeated failures from one client
address answer 429 (see ratelimit.py).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from herald.api.context import AppContext, get_context
from herald.api.errors import ApiError, too_many_failures
from herald.domain import scopes as sc
from herald.store import tokens

log = logging.getLogger("herald.api.auth")

bearer = HTTPBearer(
    auto_error=False,
    description="The admin token, an OAuth access token (POST /oauth/token) or a personal access token",
)

Kind = Literal["admin", "application", "account"]
InstalledCheck = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may touch."""

    kind: Kind
    application_id: str | None = None
    account_id: str | None = None
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    installed: InstalledCheck | None = field(default=None, compare=False, repr=False)

    @classmethod
    def admin(cls) -> Principal:
        return cls(kind="admin", scopes=frozenset(sc.ALL_SCOPES))

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def name(self) -> str:
        if self.kind == "application":
            return f"application {self.application_id}"
        if self.kind == "account":
            return f"account {self.account_id}"
        return "admin"

    # -- scopes (403)

    def has(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def require(self, *needed: str) -> None:
        """Every scope in `needed`, or 403 naming the first one missing."""
        for scope in needed:
            if not self.has(scope):
                raise ApiError(403, f"this token lacks the scope {scope}", scope=scope)

    def require_any(self, *needed: str) -> None:
        """One of the scopes in `needed`, or 403 naming them."""
        if not any(self.has(scope) for scope in needed):
            raise ApiError(
                403, f"this token needs one of the scopes {', '.join(needed)}", scopes=list(needed)
            )

    def require_admin(self) -> None:
        if not self.is_admin:
            raise ApiError(403, "this operation needs the admin token")

    # -- tenants (404)

    def require_application(self, application_id: str) -> None:
        """The admin, or the application itself; anyone else is told it does not exist."""
        if self.is_admin or (self.kind == "application" and self.application_id == application_id):
            return
        raise ApiError(404, "application not found", field="application_id")

    async def sees_account(self, account_id: str) -> bool:
        if self.is_admin:
            return True
        if self.account_id is not None and self.account_id != account_id:
            return False  # an account token, or an application token bound to another account
        if self.kind == "account":
            return True
        return (
            self.application_id is not None
            and self.installed is not None
            and await self.installed(self.application_id, account_id)
        )

    async def require_account(self, account_id: str) -> None:
        """The admin, the account's own token, or an application installed in it; else 404."""
        if not await self.sees_account(account_id):
            raise ApiError(404, "account not found", field="account_id")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_rate(ctx: AppContext, address: str) -> None:
    wait = ctx.auth.limiter.retry_after(address)
    if wait is not None:
        raise too_many_failures(wait)


def installation_check(ctx: AppContext) -> InstalledCheck:
    async def installed(application_id: str, account_id: str) -> bool:
        if ctx.auth.installs.known(application_id, account_id):
            return True
        if await tokens.is_installed(ctx.db, application_id, account_id):
            ctx.auth.installs.remember(application_id, account_id)
            return True
        return False

    return installed


async def _principal_of(ctx: AppContext, token: str) -> Principal | None:
    if hmac.compare_digest(token.encode(), ctx.admin_token.encode()):
        return Principal.admin()
    if not token.startswith((tokens.PAT_PREFIX, tokens.OAUTH_PREFIX)):
        return None
    grant = await tokens.resolve(ctx.db, token)
    if grant is None:
        return None
    now = time.time()
    if ctx.auth.should_touch(grant.id, now):
        try:
            await tokens.touch(ctx.db, grant.id, now)
        except Exception:  # bookkeeping only: never fail a request over it
            log.warning("could not record the last use of token %s", grant.id, exc_info=True)
    kind: Kind = "account" if grant.kind == "pat" else "application"
    return Principal(
        kind=kind,
        application_id=grant.application_id,
        account_id=grant.account_id,
        scopes=sc.expand(grant.scopes),
        token_id=grant.id,
        installed=installation_check(ctx),
    )


async def authenticate(
    request: Request,
    ctx: Annotated[AppContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "authentication required: send Authorization: Bearer <token>")
    return await principal_for_token(request, ctx, credentials.credentials)


async def principal_for_token(request: Request, ctx: AppContext, token: str) -> Principal:
    """The caller a presented token stands for; 401 (counted by the failure limiter) if none."""
    address = client_address(request)
    check_rate(ctx, address)
    principal = await _principal_of(ctx, token)
    if principal is None:
        ctx.auth.limiter.failed(address)
        raise ApiError(401, "authentication failed")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
Context = Annotated[AppContext, Depends(get_context)]
