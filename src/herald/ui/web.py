"""What every dashboard page shares: templates, the signed-in user, CSRF checks, HTML error pages."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import orjson
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from herald.api.auth import Principal, _principal_of
from herald.api.context import AppContext
from herald.api.errors import ApiError
from herald.store.portal import active_grant
from herald.ui.portal_scope import page_allowed
from herald.ui.session import COOKIE, Session, SessionCodec, csrf_ok

log = logging.getLogger("herald.ui")

PREFIX = "/ui"
MAX_FORM_BYTES = 256 * 1024
FORM_KEY_PREFIX = "ui-"  # a form's Idempotency-Key (recover, replay): submitting it twice starts one job

SECURITY_HEADERS = {
    # No script at all; inline SVG charts need no more than this.
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",  # not no-referrer: forms must send their Origin
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _ts(value: float | datetime | None) -> str:
    if value is None:
        return "—"
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _pretty_text(text: str | None) -> str:
    """A body as text: indented when it is JSON, as received otherwise."""
    if not text:
        return ""
    try:
        return _pretty(orjson.loads(text))
    except orjson.JSONDecodeError:
        return text


templates = Environment(
    loader=PackageLoader("herald.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["ts"] = _ts
templates.filters["pretty"] = _pretty
templates.filters["pretty_text"] = _pretty_text


class NeedsSignIn(Exception):
    """No (valid) session: send the browser to the sign-in page."""


class BadCsrf(Exception):
    """A POST without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class User:
    principal: Principal
    session: Session
    # A portal session limited to some subscriptions (ui/portal.py); None: every one the principal sees.
    subscription_ids: frozenset[str] | None = None

    def sees_subscription(self, subscription_id: str) -> bool:
        return self.subscription_ids is None or subscription_id in self.subscription_ids

    def require_subscription(self, subscription_id: str) -> None:
        """Outside a portal session's subscriptions: 404, as if it did not exist."""
        if not self.sees_subscription(subscription_id):
            raise ApiError(404, "subscription not found", field="subscription_id")

    @property
    def account_id(self) -> str | None:
        return self.principal.account_id

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def ui_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.herald
    return ctx


def codec(request: Request) -> SessionCodec:
    out: SessionCodec = request.app.state.sessions
    return out


async def current_user(request: Request) -> User:
    """The signed-in user; the token in the session is checked again on every request (revocation and
    expiry act at once), and only admin and account tokens may use the dashboard."""
    session = codec(request).read(request.cookies.get(COOKIE))
    if session is None:
        raise NeedsSignIn
    if is_portal_session(session):
        return await _portal_user(request, session)
    principal = await _principal_of(ui_context(request), session.token)
    if principal is None or principal.kind == "application":
        raise NeedsSignIn
    return User(principal, session)


PORTAL_TOKEN = "portal:"  # a session opened by a portal link holds "portal:<link id>", never a token


def is_portal_session(session: Session) -> bool:
    return session.token.startswith(PORTAL_TOKEN)


async def _portal_user(request: Request, session: Session) -> User:
    """A portal session: its link is checked on every request (revoked or expired ends it), and a session
    limited to some subscriptions reaches only the pages about them."""
    grant = await active_grant(ui_context(request).db, session.token.removeprefix(PORTAL_TOKEN))
    if grant is None:
        raise NeedsSignIn
    principal = Principal(
        kind="account", account_id=grant.account_id, scopes=grant.scopes, token_id=grant.link_id
    )
    user = User(principal, session, grant.subscription_ids)
    if not page_allowed(request.method, request.url.path.removeprefix(PREFIX), grant):
        raise ApiError(404, "There is no such page.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
Ctx = Annotated[AppContext, Depends(ui_context)]


async def read_form(request: Request) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body (repeated names, e.g. a multi-select, keep every value)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ApiError(413, "the form is too large")
    try:
        return parse_qs(body.decode(), keep_blank_values=True, max_num_fields=1000)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None


async def checked_form(request: Request, user: User) -> dict[str, list[str]]:
    """The form of a POST, after checking its CSRF token against the session's."""
    form = await read_form(request)
    if not csrf_ok(user.session, first(form, "csrf")):
        raise BadCsrf
    return form


def new_form_key() -> str:
    """A fresh idempotency key for one rendering of a form that starts a job."""
    return FORM_KEY_PREFIX + secrets.token_urlsafe(18)


def first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def render(
    request: Request, user: User | None, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    html = templates.get_template(template).render(
        user=user, csrf=user.session.csrf if user else "", prefix=PREFIX, path=request.url.path, **values
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(url: str) -> Response:
    """303: after a POST the browser GETs the result page (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303, headers={"cache-control": "no-store"})
