"""Credentials of an account (Data Transporter security schemes): create, list, get, rotate, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field

from herald.api.auth import Context, CurrentPrincipal, Principal
from herald.api.errors import ApiError
from herald.api.schemas import (
    AccountId,
    Cursor,
    HeaderValue,
    Limit,
    Model,
    OutModel,
    Page,
    ResourceId,
    Text,
)
from herald.domain.credentials import Scheme
from herald.domain.scopes import CONFIGURATION_RW
from herald.store import credentials as store

router = APIRouter(prefix="/v1/accounts/{account_id}/credentials", tags=["credentials"])

HEADER_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"  # an HTTP header name (RFC 9110 token)
RESERVED_HEADERS = {"content-type", "content-length", "host", "user-agent", "webhook-id", "webhook-timestamp"}

# Which request fields each scheme takes; any other is refused so a typo never passes silently.
FIELDS: dict[Scheme, set[str]] = {
    Scheme.LP_SIGNATURE: {"algorithm", "encoding"},
    Scheme.API_KEY: {"header", "key"},
    Scheme.BEARER: {"token"},
    Scheme.STANDARD: {"asymmetric", "secret"},
}


async def authorize(who: Principal, account_id: str) -> None:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)


class CredentialIn(Model):
    name: Text = Field(min_length=1, max_length=200)
    scheme: Scheme
    algorithm: Literal["sha1", "sha256", "sha512"] | None = Field(
        default=None, description="lp-signature: HMAC hash (default sha256)"
    )
    encoding: Literal["base64", "hex"] | None = Field(
        default=None, description="lp-signature (default base64)"
    )
    header: str | None = Field(default=None, pattern=HEADER_PATTERN, description="api-key: header name")
    key: HeaderValue | None = Field(
        default=None, min_length=8, max_length=500, description="api-key (default: generated)"
    )
    token: HeaderValue | None = Field(
        default=None, min_length=8, max_length=2000, description="bearer (default: generated)"
    )
    asymmetric: bool | None = Field(default=None, description="standard: ed25519 (v1a) instead of HMAC (v1)")
    secret: Text | None = Field(
        default=None, pattern=r"^whsec_[A-Za-z0-9+/=]{32,}$", description="standard, symmetric: your whsec_"
    )

    def check(self) -> None:
        """Refuse fields that do not belong to the scheme, naming the field (422)."""
        allowed = FIELDS[self.scheme]
        for name in ("algorithm", "encoding", "header", "key", "token", "asymmetric", "secret"):
            if getattr(self, name) is not None and name not in allowed:
                raise ApiError(422, f"{name}: does not apply to scheme {self.scheme.value}", field=name)
        if self.header and self.header.lower() in RESERVED_HEADERS:
            raise ApiError(422, f"header: {self.header} is set by Herald itself", field="header")
        if self.asymmetric and self.secret:
            raise ApiError(422, "secret: asymmetric keys are generated, not given", field="secret")

    def config(self) -> dict[str, Any]:
        if self.scheme is Scheme.LP_SIGNATURE:
            return {"algorithm": self.algorithm or "sha256", "encoding": self.encoding or "base64"}
        if self.scheme is Scheme.API_KEY:
            return {"header": (self.header or "x-api-key").lower()}
        if self.scheme is Scheme.STANDARD:
            return {"asymmetric": bool(self.asymmetric)}
        return {}

    def given_secret(self) -> str | None:
        return self.key or self.token or self.secret


class RotateIn(Model):
    grace_period: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="Seconds the old secret keeps signing too (schemes that carry several signatures)",
    )
    key: HeaderValue | None = Field(default=None, min_length=8, max_length=500)
    token: HeaderValue | None = Field(default=None, min_length=8, max_length=2000)


class CredentialOut(OutModel):
    id: str
    account_id: str
    name: str
    scheme: Scheme
    algorithm: str | None = None
    encoding: str | None = None
    client_id: str | None = Field(default=None, description="lp-signature: sent as x-liveperson-client-id")
    header: str | None = None
    asymmetric: bool | None = None
    secret: str = Field(description="The key/token/secret in full only in the create and rotate answers")
    secret_shown: bool
    public_key: str | None = Field(description="standard, asymmetric: the whpk_ key receivers verify with")
    multiple_signatures: bool = Field(description="Whether old and new secrets both sign during a rotation")
    previous_active: bool = Field(description="The previous secret still signs (rotation grace period)")
    created_at: datetime
    updated_at: datetime
    rotated_at: datetime | None


class RotatedOut(CredentialOut):
    note: str


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CredentialOut)
async def create_credential(
    account_id: AccountId, body: CredentialIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await authorize(who, account_id)
    body.check()
    return await store.create_credential(
        ctx.db, ctx.box, account_id, body.name, body.scheme, body.config(), body.given_secret()
    )


@router.get("", response_model=Page[CredentialOut])
async def list_credentials(
    account_id: AccountId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    await authorize(who, account_id)
    rows, next_cursor = await store.list_credentials(ctx.db, ctx.box, account_id, limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{credential_id}", response_model=CredentialOut)
async def get_credential(
    account_id: AccountId, credential_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await authorize(who, account_id)
    return await store.get_credential(ctx.db, ctx.box, account_id, credential_id)


@router.post("/{credential_id}/rotate", response_model=RotatedOut)
async def rotate_credential(
    account_id: AccountId, credential_id: ResourceId, body: RotateIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await authorize(who, account_id)
    current = await store.get_credential(ctx.db, ctx.box, account_id, credential_id)
    scheme = Scheme(current["scheme"])
    for name in ("key", "token"):
        if getattr(body, name) is not None and name not in FIELDS[scheme]:
            raise ApiError(422, f"{name}: does not apply to scheme {scheme.value}", field=name)
    out = await store.rotate_credential(
        ctx.db, ctx.box, account_id, credential_id, float(body.grace_period), body.key or body.token
    )
    ctx.credential_changed()
    if out["previous_active"]:
        note = f"both secrets sign every delivery for {body.grace_period} s; then only the new one"
    elif out["multiple_signatures"]:
        note = "no grace period asked: only the new secret signs from now on"
    else:
        note = f"{scheme.value} carries one secret per request: the new one is used from now on, at once"
    return {**out, "note": note}


@router.delete("/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(
    account_id: AccountId, credential_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    await authorize(who, account_id)
    await store.delete_credential(ctx.db, account_id, credential_id)
    return Response(status_code=204)
