"""OAuth 2.0 client credentials (RFC 6749 §4.4): an application trades its client id and secret for a
short-lived bearer token.

Requests are form-encoded (as the RFC says) or JSON; the client authenticates with HTTP Basic
(`base64(urlencode(client_id):urlencode(client_secret))`, RFC 6749 §2.3.1) or with `client_id` and
`client_secret` in the body, not both. Errors on this endpoint follow RFC 6749 §5.2 —
`{"error": "invalid_client", "error_description": "..."}` — not Herald's usual error shape, because OAuth
client libraries parse that shape. A failed client authentication answers 401 `invalid_client` without
saying whether the client id or the secret was wrong, and counts toward the failed-auth limit (429).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from herald.api.auth import Context, client_address
from herald.api.schemas import ACCOUNT_PATTERN
from herald.domain import scopes as sc
from herald.store import applications as app_store
from herald.store import tokens

router = APIRouter(tags=["oauth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_DUMMY_SECRET = "x" * 43  # compared against when the client id is unknown, so both paths cost the same

TOKEN_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string", "description": "Unless sent with HTTP Basic"},
        "client_secret": {"type": "string", "description": "Unless sent with HTTP Basic"},
        "scope": {"type": "string", "description": f"Space-separated: {' '.join(sc.ALL_SCOPES)}"},
        "account_id": {"type": "string", "description": "Bind the token to one account of the application"},
    },
}


class OAuthErrorOut(BaseModel):
    """RFC 6749 section 5.2: OAuth errors have their own shape."""

    error: str
    error_description: str


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**_NO_STORE, **self.headers},
        )


def _invalid_client() -> OAuthError:
    return OAuthError(
        401, "invalid_client", "client authentication failed", {"WWW-Authenticate": 'Basic realm="herald"'}
    )


async def _parameters(request: Request) -> dict[str, str]:
    params = await _parse_body(request)
    if any("\x00" in k or "\x00" in v for k, v in params.items()):
        raise OAuthError(400, "invalid_request", "parameters must not contain NUL characters")
    return params


async def _parse_body(request: Request) -> dict[str, str]:
    raw = await request.body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise OAuthError(400, "invalid_request", "the request body is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise OAuthError(400, "invalid_request", "the JSON body must be an object of strings")
        return data
    if media in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "the form body cannot be parsed") from None
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)):
            raise OAuthError(400, "invalid_request", "a parameter is repeated")
        return dict(pairs)
    raise OAuthError(
        400, "invalid_request", "send application/x-www-form-urlencoded (or application/json) parameters"
    )


def _client_credentials(request: Request, params: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    in_body = "client_id" in params or "client_secret" in params
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise _invalid_client()
        if in_body:
            raise OAuthError(
                400, "invalid_request", "authenticate the client one way: HTTP Basic or the body"
            )
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid_client() from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise _invalid_client()
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        if "\x00" in client_id + secret:
            raise _invalid_client()
        return client_id, secret
    if not in_body:
        return None
    return params.get("client_id", ""), params.get("client_secret", "")


async def _authenticate_client(ctx: Context, client_id: str, secret: str) -> str | None:
    found = await app_store.client_secret_of(ctx.db, ctx.box, client_id) if client_id else None
    expected = found[1] if found else _DUMMY_SECRET
    matches = hmac.compare_digest(secret.encode(), expected.encode())
    return found[0] if found and matches else None


async def _issue(request: Request, ctx: Context) -> dict[str, Any]:
    address = client_address(request)
    wait = ctx.auth.limiter.retry_after(address)
    if wait is not None:
        raise OAuthError(
            429,
            "too_many_requests",
            f"too many failed authentication attempts; retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    params = await _parameters(request)
    client = _client_credentials(request, params)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    if client is None:
        raise OAuthError(
            401,
            "invalid_client",
            "client authentication required",
            {"WWW-Authenticate": 'Basic realm="herald"'},
        )
    application_id = await _authenticate_client(ctx, *client)
    if application_id is None:
        ctx.auth.limiter.failed(address)
        raise _invalid_client()
    try:
        scopes = sc.parse(params.get("scope")) or sc.ALL_SCOPES
    except sc.UnknownScope as exc:
        raise OAuthError(400, "invalid_scope", str(exc)) from None
    account_id = params.get("account_id") or None
    if account_id is not None:
        if not re.fullmatch(ACCOUNT_PATTERN, account_id):
            raise OAuthError(400, "invalid_request", "account_id is not a valid account id")
        if not await tokens.is_installed(ctx.db, application_id, account_id):
            raise OAuthError(
                400, "invalid_request", f"the application is not installed in account {account_id}"
            )
    ttl = ctx.auth.oauth_token_ttl
    token, _ = await tokens.create_oauth_token(ctx.db, application_id, account_id, scopes, ttl)
    out: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(ttl),
        "scope": " ".join(scopes),
    }
    if account_id is not None:
        out["account_id"] = account_id
    return out


@router.post(
    "/oauth/token",
    summary="Get an access token (OAuth 2.0 client credentials)",
    response_class=JSONResponse,
    responses={
        400: {
            "model": OAuthErrorOut,
            "description": "invalid_request, unsupported_grant_type, invalid_scope",
        },
        401: {"model": OAuthErrorOut, "description": "invalid_client"},
        429: {"model": OAuthErrorOut, "description": "too_many_requests: too many failed attempts"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": TOKEN_REQUEST_SCHEMA},
                "application/json": {"schema": TOKEN_REQUEST_SCHEMA},
            },
        }
    },
)
async def token(request: Request, ctx: Context) -> JSONResponse:
    try:
        return JSONResponse(await _issue(request, ctx), headers=_NO_STORE)
    except OAuthError as exc:
        return exc.response()
