"""Personal access tokens of an account: create (the token is shown once), list, revoke.

Who may manage them: the admin, or a personal access token of the same account holding
`webhooks.configuration:rw` (and it can only hand out scopes it holds itself). Application tokens cannot:
an application acts in an account through its installation, not by minting tokens for it.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.schemas import AccountId, Cursor, Limit, Model, OutModel, Page, ResourceId, Text
from herald.domain import scopes as sc
from herald.store import tokens as store

router = APIRouter(prefix="/v1/accounts/{account_id}/tokens", tags=["tokens"])

MAX_LIFETIME = 2 * 365 * 86_400


class TokenIn(Model):
    name: Text | None = Field(default=None, max_length=200)
    scopes: list[str] | None = Field(
        default=None,
        max_length=len(sc.ALL_SCOPES),
        description=f"Any of {', '.join(sc.ALL_SCOPES)}; default: every scope the caller holds",
    )
    expires_in: int | None = Field(
        default=None, ge=60, le=MAX_LIFETIME, description="Seconds until it expires (default: never)"
    )


class TokenOut(OutModel):
    id: str
    account_id: str
    name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="Shown once: only its sha256 is stored. Send as Authorization: Bearer")


async def authorize(who: Principal, account_id: str) -> None:
    await who.require_account(account_id)
    if who.kind == "application":
        raise ApiError(403, "application tokens cannot manage personal access tokens")
    who.require(sc.CONFIGURATION_RW)


def granted_scopes(who: Principal, asked: list[str] | None) -> tuple[str, ...]:
    try:
        scopes = sc.parse(asked)
    except sc.UnknownScope as exc:
        raise ApiError(422, f"scopes: {exc}", field="scopes", known=list(sc.ALL_SCOPES)) from None
    if scopes is None:
        return tuple(s for s in sc.ALL_SCOPES if who.has(s))
    for scope in scopes:
        if not who.has(scope):
            raise ApiError(403, f"a token cannot grant the scope {scope}, which it lacks itself", scope=scope)
    return scopes


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreatedOut)
async def create_token(account_id: AccountId, body: TokenIn, ctx: Context, who: CurrentPrincipal) -> object:
    await authorize(who, account_id)
    scopes = granted_scopes(who, body.scopes)
    return await store.create_pat(
        ctx.db, account_id, body.name, scopes, float(body.expires_in) if body.expires_in else None
    )


@router.get("", response_model=Page[TokenOut])
async def list_tokens(
    account_id: AccountId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    await authorize(who, account_id)
    rows, next_cursor = await store.list_pats(ctx.db, account_id, limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    account_id: AccountId, token_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    """Revoke: the token stops working at once (every process looks tokens up on each request)."""
    await authorize(who, account_id)
    await store.revoke_pat(ctx.db, account_id, token_id)
    return Response(status_code=204)
