"""The portal link's landing page, and the headers that let listed origins embed the dashboard.

`GET /ui/portal/{token}` uses the link once and opens a dashboard session tied to it (web.current_user
checks the link on every request). Embedded in another site's iframe the session cookie is a third-party
cookie: over HTTPS it is `SameSite=None; Secure; Partitioned` (CHIPS, so browsers that block third-party
cookies still keep it for that embedding site); over plain HTTP browsers refuse those attributes, so it is
`SameSite=Lax`, which works for an embedding page on the same site (another port of the same host).
"""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.store.portal import redeem
from herald.ui.session import COOKIE
from herald.ui.web import PORTAL_TOKEN, PREFIX, codec, redirect, render, ui_context

router = APIRouter()

TOKEN = r"^hpl_[A-Za-z0-9_-]{20,80}$"


@router.get("/portal/{token}", include_in_schema=False)
async def portal_sign_in(request: Request, token: str) -> Response:
    grant = await redeem(ui_context(request).db, token) if re.match(TOKEN, token) else None
    if grant is None:
        return render(
            request,
            None,
            "error.html",
            status=410,
            title="Link no longer valid",
            message="This portal link has expired, was already used or was revoked. Ask for a new one.",
            status_code=410,
        )
    _, value = codec(request).new(PORTAL_TOKEN + grant.link_id)
    # Subscriptions are configuration (webhooks.configuration:rw); a read-only session starts at the log.
    landing = "deliveries" if grant.read_only else "subscriptions"
    response = redirect(f"{PREFIX}/a/{grant.account_id}/{landing}")
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        value,
        max_age=max(1, int(grant.expires_at - time.time())),
        path=PREFIX,
        httponly=True,
        samesite="none" if secure else "lax",
        secure=secure,
        partitioned=secure,
    )
    return response


def frame_ancestors(setting: str) -> list[str]:
    """HERALD_PORTAL_FRAME_ANCESTORS → CSP source expressions (space- or comma-separated)."""
    return [part for part in re.split(r"[\s,]+", setting.strip()) if part]


class FrameAncestors:
    """Every dashboard response names the origins the operator lets embed it (CSP `frame-ancestors`,
    which replaces X-Frame-Options in every current browser); without a list nothing may embed it."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.policy = f"frame-ancestors 'self' {' '.join(origins)}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-frame-options":
                        continue
                    if name.lower() == b"content-security-policy":
                        value = re.sub(rb"frame-ancestors [^;]*", self.policy, value)
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_framed)
