"""Bearer-token authentication. Failures say only that authentication failed, never which part."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from herald.api.context import AppContext, get_context
from herald.api.errors import ApiError

bearer = HTTPBearer(auto_error=False, description="The admin token (HERALD_ADMIN_TOKEN)")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. The admin sees every application and account."""

    name: str
    admin: bool = False

    def require_admin(self) -> None:
        if not self.admin:
            raise ApiError(403, "this operation needs the admin token")


def authenticate(
    ctx: Annotated[AppContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "authentication required: send Authorization: Bearer <token>")
    if hmac.compare_digest(credentials.credentials.encode(), ctx.admin_token.encode()):
        return Principal(name="admin", admin=True)
    raise ApiError(401, "authentication failed")


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
Context = Annotated[AppContext, Depends(get_context)]
