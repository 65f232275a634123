"""The dashboard as a sub-application mounted at /ui: its own HTML error pages, sign-in and sign-out."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald.api.auth import _principal_of, check_rate, client_address
from herald.api.context import AppContext
from herald.api.errors import ApiError
from herald.store.errors import Conflict, Invalid, NotFound, StoreError
from herald.ui import (
    routes_config,
    routes_deliveries,
    routes_events,
    routes_health,
    routes_jobs,
    routes_portal,
    routes_sources,
)
from herald.ui.session import COOKIE, MAX_AGE, SessionCodec
from herald.ui.web import (
    PREFIX,
    BadCsrf,
    CurrentUser,
    NeedsSignIn,
    User,
    checked_form,
    codec,
    current_user,
    first,
    read_form,
    redirect,
    render,
    ui_context,
)

log = logging.getLogger("herald.ui")

STATIC = Path(__file__).parent / "static"

# Every page router of the dashboard (the tests' cross-tenant walk reads this list).
ROUTERS = (
    routes_config.router,
    routes_deliveries.router,
    routes_events.router,
    routes_jobs.router,
    routes_health.router,
    routes_portal.router,
    routes_sources.router,
)

TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Not valid",
    429: "Too many attempts",
    500: "Something went wrong",
}


async def _user_or_none(request: Request) -> User | None:
    """The signed-in user for the page's header, if any; an error page must render even when the session
    is missing or the database is what failed."""
    try:
        return await current_user(request)
    except Exception:
        return None


async def error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    user = await _user_or_none(request)
    response = render(
        request,
        user,
        "error.html",
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        status_code=status,
    )
    response.headers.update(headers or {})  # e.g. Retry-After on 429
    return response


def create_ui(ctx: AppContext) -> FastAPI:
    ui = FastAPI(title="Herald dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    ui.state.herald = ctx
    ui.state.sessions = SessionCodec(ctx.settings.secret_keys(), ctx.box)

    @ui.exception_handler(NeedsSignIn)
    async def _sign_in(request: Request, _: NeedsSignIn) -> Response:
        response = redirect(f"{PREFIX}/sign-in")
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    @ui.exception_handler(BadCsrf)
    async def _csrf(request: Request, _: BadCsrf) -> Response:
        return await error_page(
            request, 403, "The form was missing its security token. Reload the page and try again."
        )

    @ui.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return await error_page(request, exc.status, exc.message, exc.headers)

    @ui.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> Response:
        status = (
            404
            if isinstance(exc, NotFound)
            else 409
            if isinstance(exc, Conflict)
            else 422
            if isinstance(exc, Invalid)
            else 400
        )
        return await error_page(request, status, exc.message)

    @ui.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return await error_page(request, exc.status_code, message)

    @ui.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("loc", ("",))[0] == "path" for e in errors):
            return await error_page(request, 404, "There is no such page.")  # not an id: no such object
        where = ", ".join(str(e.get("loc", ("", "?"))[-1]) for e in errors)
        return await error_page(request, 422, f"Some of the page's parameters are not valid: {where}.")

    @ui.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in the dashboard", exc_info=exc)
        return await error_page(request, 500, "An unexpected error happened; the server log has the details.")

    @ui.get("/", include_in_schema=False)
    async def home(user: CurrentUser) -> Response:
        if user.account_id is not None:
            return redirect(f"{PREFIX}/a/{user.account_id}/subscriptions")
        return redirect(f"{PREFIX}/accounts")

    @ui.get("/sign-in", include_in_schema=False)
    async def sign_in_form(request: Request) -> Response:
        return render(request, None, "sign_in.html")

    @ui.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        ctx = ui_context(request)
        origin = request.headers.get("origin")
        hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")}  # behind a proxy too
        if origin and urlsplit(origin).netloc not in hosts:
            # Login CSRF: another site must not sign this browser in (there is no session token yet).
            return await error_page(request, 403, "Sign in from Herald's own sign-in page.")
        address = client_address(request)
        check_rate(ctx, address)
        token = (first(await read_form(request), "token") or "").strip()
        principal = await _principal_of(ctx, token) if token else None
        if principal is None or principal.kind == "application":
            if principal is None:
                ctx.auth.limiter.failed(address)
            message = (
                "Application tokens cannot sign in here; use the admin token or a personal access token."
                if principal is not None
                else "That token is not valid (or has expired or been revoked)."
            )
            return render(request, None, "sign_in.html", status=401, error=message)
        _, value = codec(request).new(token)
        response = redirect(f"{PREFIX}/")
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @ui.post("/sign-out", include_in_schema=False)
    async def sign_out(request: Request, user: CurrentUser) -> Response:
        await checked_form(request, user)
        response = redirect(f"{PREFIX}/sign-in")
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    for router in ROUTERS:
        ui.include_router(router)
    ui.mount("/static", StaticFiles(directory=STATIC), name="static")
    origins = routes_portal.frame_ancestors(ctx.settings.portal_frame_ancestors)
    if origins:
        ui.add_middleware(routes_portal.FrameAncestors, origins=origins)
    return ui
