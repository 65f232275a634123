"""Every status a route can answer, declared in one place, with the one error schema.

Each route's own decorator states its success; the errors come from shared machinery (authentication,
lookups, body parsing and limits, the database), so they are derived here from what the route has rather
than repeated on every decorator: a security scheme → 401, 403 and 429 (failed-authentication limiter);
parameters or a body → 400 (a body that is not JSON, a cursor that is not ours) and 422; path
parameters or a body (which names other resources) → 404; a body → 413 and 415; a write → 409 and 413;
every route → 503 (database unavailable). FastAPI's own 422 schema is replaced: Herald's 422 is the same
`{"error": {...}}` as every other error. A route that answers an error in another format (OAuth) declares
it on its decorator, and that declaration stands."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

ERROR_REF = "#/components/schemas/Error"

WHY = {
    400: "The body is not valid JSON, or a parameter cannot be read (a cursor that is not ours)",
    401: "No token, or a token that is not valid",
    403: "The token lacks the scope this route needs",
    404: "No such resource for this caller (another tenant's resources answer the same)",
    409: "Conflicts with an existing resource or its state",
    413: "The request body is larger than HERALD_MAX_BODY_BYTES",
    415: "The body was not sent with content-type: application/json",
    422: "A field is invalid; `data.field` names it",
    429: "Too many failed authentication attempts from this address; see Retry-After",
    503: "The database is unavailable; repeat the request shortly (see Retry-After)",
}
WRITES = {"post", "put", "patch", "delete"}
FASTAPI_422 = "#/components/schemas/HTTPValidationError"


class ErrorDetail(BaseModel):
    type: str = Field(description="A stable error type: validation, not_found, conflict, ...")
    message: str = Field(description="What went wrong, for a person")
    data: dict[str, Any] = Field(description="Details; `field` names the field at fault, when one is")


class Error(BaseModel):
    error: ErrorDetail


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from what it has."""
    statuses = {503}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {401, 403, 429}
    has_body = "requestBody" in operation
    if parameters or has_body:
        statuses |= {400, 422}
    if has_body or any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if has_body:
        statuses |= {413, 415}
    if method in WRITES:
        statuses |= {409, 413}
    return statuses


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every derived error status to every operation of an OpenAPI document, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in Error.model_json_schema(ref_template="#/components/schemas/{model}")[
        "$defs"
    ].items():
        components[name] = definition
    components["Error"] = {
        k: v
        for k, v in Error.model_json_schema(ref_template="#/components/schemas/{model}").items()
        if k != "$defs"
    }
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status in sorted(error_statuses(method, operation)):
                if str(status) in responses and not _fastapi_default(responses[str(status)]):
                    continue  # declared by the route itself
                responses[str(status)] = {
                    "description": WHY[status],
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _fastapi_default(response: dict[str, Any]) -> bool:
    return bool(
        response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref") == FASTAPI_422
    )


def install(app: FastAPI) -> None:
    """Post-process the generated document once, when it is first asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
