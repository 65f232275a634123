"""Customer portal links: a one-time URL that signs a browser into /ui limited to one account (and, if
asked, to read-only and to some subscriptions), for a SaaS to hand its customer or embed in an iframe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal
from herald.api.schemas import AccountId, Model, OutModel, ResourceId
from herald.store import portal as store
from herald.ui.web import PREFIX

router = APIRouter(prefix="/v1/accounts/{account_id}/portal-links", tags=["portal links"])

MAX_EXPIRES_IN = 7 * 86_400


class PortalLinkIn(Model):
    expires_in: int = Field(
        ge=60, le=MAX_EXPIRES_IN, description="Seconds the link (and the session it opens) lives"
    )
    read_only: bool = Field(default=False, description="Look, don't touch: no resend, no changes")
    subscription_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only these subscriptions of the account (default: all of them)",
    )


class PortalLinkOut(OutModel):
    id: str
    account_id: str
    read_only: bool
    subscription_ids: list[str] | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class PortalLinkCreatedOut(PortalLinkOut):
    url: str = Field(description="The one-time sign-in URL; shown once")


def _out(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "expires_at", "used_at", "revoked_at"):
        if out.get(key) is not None:
            out[key] = datetime.fromtimestamp(out[key], UTC)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PortalLinkCreatedOut)
async def create_portal_link(
    account_id: AccountId, body: PortalLinkIn, request: Request, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(*sorted(store.scopes_of(body.read_only)))  # nobody hands out more than they hold
    row, token = await store.create_link(
        ctx.db, account_id, body.expires_in, body.read_only, body.subscription_ids
    )
    base = str(request.base_url).rstrip("/")
    return {**_out(row), "url": f"{base}{PREFIX}/portal/{token}"}


@router.get("", response_model=list[PortalLinkOut])
async def list_portal_links(account_id: AccountId, ctx: Context, who: CurrentPrincipal) -> object:
    await who.require_account(account_id)
    who.require(*sorted(store.scopes_of(True)))
    return [_out(r) for r in await store.list_links(ctx.db, account_id)]


@router.delete("/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_portal_link(
    account_id: AccountId, link_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    """Revoke: an unused link no longer signs in, and the session a used one opened ends at once."""
    await who.require_account(account_id)
    who.require(*sorted(store.scopes_of(False)))
    await store.revoke(ctx.db, account_id, link_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
