"""mTLS certificate mappings of an account, keyed like LivePerson's (account, service, exact endpoint URL):
create, list, get, replace, delete. The private key is stored encrypted and never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import Field, field_validator

from herald.api.auth import Context, CurrentPrincipal
from herald.api.errors import ApiError
from herald.api.schemas import AccountId, Cursor, Limit, Model, OutModel, Page, ResourceId, Text
from herald.api.targets import valid_url
from herald.domain.certificates import CertificateProblem
from herald.domain.scopes import CONFIGURATION_RW
from herald.store import mtls as store

router = APIRouter(prefix="/v1/accounts/{account_id}/mtls-mappings", tags=["mtls"])

PEM_LIMIT = 64 * 1024


def check_mapped_url(url: str) -> str:
    """Canonical, as subscription URLs are: a mapping matches a subscription's URL exactly (ADR 0009)."""
    url = valid_url(url)
    if not url.startswith("https:"):
        raise ValueError("must be an https:// URL (mTLS runs over TLS)")
    return url


class MappingIn(Model):
    service: Literal["WEBHOOKS"] = Field(default="WEBHOOKS", description="LivePerson's service name")
    url: Text = Field(
        min_length=1, max_length=2048, description="The endpoint URL, matched exactly (query included)"
    )
    certificate: Text = Field(
        min_length=1, max_length=PEM_LIMIT, description="Client certificate (chain), PEM, leaf first"
    )
    private_key: Text = Field(
        min_length=1, max_length=PEM_LIMIT, description="The certificate's unencrypted private key, PEM"
    )
    ca_bundle: Text | None = Field(
        default=None,
        max_length=PEM_LIMIT,
        description="PEM CAs to verify the endpoint with, instead of the system's",
    )
    allow_plain_fallback: bool = Field(
        default=False, description="Deliver with plain TLS when this certificate cannot be used"
    )

    _url = field_validator("url")(check_mapped_url)

    def given(self) -> store.MappingIn:
        return store.MappingIn(
            self.service,
            self.url,
            self.certificate,
            self.private_key,
            self.ca_bundle,
            self.allow_plain_fallback,
        )


class MappingOut(OutModel):
    id: str
    account_id: str
    service: str
    url: str
    certificate: str
    ca_bundle: str | None
    allow_plain_fallback: bool
    fingerprint: str = Field(description="sha256 of the client certificate (DER), hex")
    subject: str | None
    not_after: datetime
    created_at: datetime
    updated_at: datetime


def _problem(exc: CertificateProblem) -> ApiError:
    return ApiError(422, str(exc), field=exc.field)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MappingOut)
async def create_mapping(
    account_id: AccountId, body: MappingIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)
    try:
        out = await store.create_mapping(ctx.db, ctx.box, account_id, body.given())
    except CertificateProblem as exc:
        raise _problem(exc) from None
    ctx.mtls_changed()
    return out


@router.get("", response_model=Page[MappingOut])
async def list_mappings(
    account_id: AccountId, ctx: Context, who: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> object:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)
    rows, next_cursor = await store.list_mappings(ctx.db, account_id, limit, cursor)
    return {"data": rows, "next_cursor": next_cursor}


@router.get("/{mapping_id}", response_model=MappingOut)
async def get_mapping(
    account_id: AccountId, mapping_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)
    return await store.get_mapping(ctx.db, account_id, mapping_id)


@router.put("/{mapping_id}", response_model=MappingOut)
async def replace_mapping(
    account_id: AccountId, mapping_id: ResourceId, body: MappingIn, ctx: Context, who: CurrentPrincipal
) -> object:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)
    try:
        out = await store.replace_mapping(ctx.db, ctx.box, account_id, mapping_id, body.given())
    except CertificateProblem as exc:
        raise _problem(exc) from None
    ctx.mtls_changed()
    return out


@router.delete("/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mapping(
    account_id: AccountId, mapping_id: ResourceId, ctx: Context, who: CurrentPrincipal
) -> Response:
    await who.require_account(account_id)
    who.require(CONFIGURATION_RW)
    await store.delete_mapping(ctx.db, account_id, mapping_id)
    ctx.mtls_changed()
    return Response(status_code=204)
