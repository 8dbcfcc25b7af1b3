"""What the OpenAPI document says each operation may answer: the one error body
(`ErrorBody`), the `responses=` mapping a route declares from a short list of
statuses (`responses(404, 422)`), and the document's last touches.

Every `/api` operation may answer the statuses in `EVERY_OPERATION` whatever it
does: the request limits run before routing (400 for a malformed
Content-Length or a body nested too deep, 413, 414, 431; `security/limits.py`),
and load shedding or an unavailable store answers 503. `responses()` adds them
to the statuses a route names, so a router lists only what its rules add: 401
where a token is needed, 404/403 where the access policy applies, 409, 422,
429. The schemathesis contract test (`tests/contract/`) fails when an
operation answers a status its entry does not list.

This module only describes; the errors themselves are raised and rendered by
`parley.errors`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from parley.fields import ApiModel


class ErrorBody(ApiModel):
    """Every error's body, whatever its status (rendered by `parley.errors`)."""

    error: str
    detail: str


ERROR_BODY_REF = "#/components/schemas/ErrorBody"

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}

_MEANINGS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("`BadRequest`: the body is not JSON, nests too deep, or Content-Length is malformed", {}),
    401: (
        "`Unauthorized`: the bearer token is missing, invalid, expired or logged out",
        {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    ),
    403: ("`Forbidden` (or a specific code): you can see it but may not do this", {}),
    404: ("`NotFound`: nothing by that id that you may see", {}),
    409: ("A conflict with the current state; `error` names the rule", {}),
    413: ("`PayloadTooLarge`: the body is over `PARLEY_MAX_BODY_BYTES`", {}),
    414: ("`URITooLong`: path and query are over `PARLEY_MAX_URL_BYTES`", {}),
    422: ("`ValidationError`: the body or a parameter breaks a rule; `detail` names it", {}),
    429: ("`TooManyRequests`: over a rate limit", _RETRY_AFTER),
    431: ("`HeadersTooLarge`: the headers are over `PARLEY_MAX_HEADER_BYTES`", {}),
    503: ("`StorageUnavailable` or `Overloaded`: retry after `Retry-After` seconds", _RETRY_AFTER),
}

EVERY_OPERATION = (400, 413, 414, 431, 503)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries of `statuses` plus `EVERY_OPERATION`,
    each with `ErrorBody` and what the status means in Parley."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *EVERY_OPERATION}):
        description, headers = _MEANINGS[status]
        entry: dict[str, Any] = {"model": ErrorBody, "description": description}
        if headers:
            entry["headers"] = headers
        entries[status] = entry
    return entries


def responses_of_a_plain_route(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses()` for a route whose success is not JSON (`/api/metrics`):
    FastAPI files a `model` under the route's own media type, but errors are
    JSON whatever the route, so the content is spelled out."""
    entries = responses(*statuses)
    for entry in entries.values():
        entry.pop("model")
        entry["content"] = {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
    return entries


def links(status: int, **operations: dict[str, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a `status` answer: which operations (by operation
    id, the route function's name) take a value of this answer, and where from
    (`$response.body#/id`). Clients and schemathesis's stateful phase follow
    them to use what was just created."""
    entries = {op: {"operationId": op, "parameters": params} for op, params in operations.items()}
    return {status: {"links": entries}}


def operation_id(route: APIRoute) -> str:
    """An operation's id is its route function's name (`create_server`)."""
    return route.name


def install_openapi(app: FastAPI) -> None:
    """Build the document once, without FastAPI's own 422 entries: FastAPI adds
    a 422 in its `HTTPValidationError` shape to every operation with a
    parameter, which is not the shape Parley answers with; routes that can
    answer 422 declare it through `responses()`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, routes=app.routes, description=None
            )
            app.openapi_schema = _without_framework_422(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_FRAMEWORK_422 = "#/components/schemas/HTTPValidationError"


def _without_framework_422(document: dict[str, Any]) -> dict[str, Any]:
    for path in document.get("paths", {}).values():
        for operation in path.values():
            answer = operation.get("responses", {}).get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == _FRAMEWORK_422:
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document
