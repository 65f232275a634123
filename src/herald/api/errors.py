"""Every error is `{"error": {"type", "message", "data"}}` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from herald.api.mediatype import is_json
from herald.store.database import UNAVAILABLE, database_unavailable
from herald.store.errors import Conflict, Invalid, NotFound, StoreError

log = logging.getLogger("herald.api")

_STATUS_TYPES = {
    400: "bad_request",
    401: "authentication",
    403: "authorization",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_ or _STATUS_TYPES.get(status, "error")
        self.message = message
        self.data = data
        self.headers: dict[str, str] | None = None


def too_many_failures(retry_after: int) -> ApiError:
    error = ApiError(429, f"too many failed authentication attempts; retry in {retry_after} s")
    error.data = {"retry_after": retry_after}
    error.headers = {"Retry-After": str(retry_after)}
    return error


def error_response(
    status: int,
    type_: str,
    message: str,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message, "data": data or {}}},
        status_code=status,
        headers=headers,
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    """("body", "events", 0, "type") → ("body", "events.0.type")."""
    parts = list(loc)
    where = str(parts.pop(0)) if parts and parts[0] in ("body", "query", "path", "header") else "body"
    # Tags of callable discriminators ("event"/"batch") are not part of the user's document.
    if where == "body" and parts and parts[0] in ("event", "batch"):
        parts.pop(0)
    return where, ".".join(str(p) for p in parts)


def validation_response(items: list[dict[str, Any]]) -> JSONResponse:
    """422 naming the first field at fault; `items` are {field, location, message, code}."""
    first = items[0] if items else {"field": "", "message": "invalid request"}
    message = f"{first['field'] or 'body'}: {first['message']}"
    return error_response(422, "validation", message, {"field": first["field"], "errors": items})


# FastAPI reads a body as JSON only with a JSON content type (curl -d sends a form type): say so, rather
# than "body: Input should be a valid dictionary" about the bytes it kept.
NOT_JSON_MESSAGE = "send the request body as JSON, with the header content-type: application/json"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    # Without a JSON content type FastAPI did not parse the body, so every complaint about it is that.
    if not is_json(request.headers.get("content-type")) and any(
        tuple(e.get("loc", ()))[:1] == ("body",) for e in errors
    ):
        return error_response(
            415,
            "unsupported_media_type",
            NOT_JSON_MESSAGE,
            {"field": "content-type", "content_type": request.headers.get("content-type", "")},
        )
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        return error_response(
            400,
            "bad_request",
            "request body is not valid JSON",
            {"reason": str(detail.get("ctx", {}).get("error", ""))},
        )
    items = []
    for e in errors:
        where, path = field_path(e.get("loc", ()))
        items.append(
            {"field": path, "location": where, "message": e.get("msg", "invalid"), "code": e.get("type")}
        )
    return validation_response(items)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    return error_response(exc.status, exc.type, exc.message, exc.data, headers)


async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", exc.message, exc.data)
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", exc.message, exc.data)
    if isinstance(exc, Invalid):
        return error_response(422, "validation", exc.message, exc.data)
    return error_response(400, "bad_request", exc.message, exc.data)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    type_ = _STATUS_TYPES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else type_
    headers = getattr(exc, "headers", None)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route"
    if exc.status_code == 405:
        # Starlette names the methods of the first route matching the path; a path has a route per method.
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, type_, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return sorted(methods)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        # Not the request's fault, and not for ever: say so, so that clients repeat it (publishing again
        # with the same event ids is safe even if the connection died just as a commit went through).
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return error_response(
            503, "unavailable", "the database is unavailable; try again shortly", headers={"Retry-After": "1"}
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal", "internal error; see the server log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, _store_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # Database errors by class too: the catch-all below answers as well, but the server then logs a
    # traceback per request, and while the database restarts every request fails the same way.
    database_errors: tuple[type[Exception], ...] = (DBAPIError, *UNAVAILABLE)
    for database_error in database_errors:
        app.add_exception_handler(database_error, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
