"""Parley's HTTP-facing errors and the one JSON shape every error is rendered in.

    ParleyError                      (status, code)
    ├── BadRequest                   400
    ├── Unauthorized                 401
    ├── Forbidden                    403
    ├── NotFound                     404
    ├── Conflict                     409
    ├── ValidationFailed             422
    ├── TooManyRequests              429  (carries Retry-After)
    └── ServiceUnavailable           503  (carries Retry-After)

Every error reaches the client as `{"error": "<Code>", "detail": "<sentence>"}`.
A body that is not JSON, or is sent with a Content-Type that is not JSON, is
400 (after a 401 if a token was needed and missing); a JSON body that breaks a
rule is 422.
Storage errors (`parley.storage.errors`) are translated by the handlers below:
unavailability answers 503 (never 500); a conflict 409, or 401 when the token's
profile no longer exists. Only unavailability is ever 503.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from parley.storage.errors import StorageConflict, StorageError

log = structlog.get_logger("parley.errors")


class ParleyError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BadRequest"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ParleyError):
    status_code = 400
    code = "BadRequest"


class Unauthorized(ParleyError):
    status_code = 401
    code = "Unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ParleyError):
    status_code = 403
    code = "Forbidden"


class NotFound(ParleyError):
    status_code = 404
    code = "NotFound"


class Conflict(ParleyError):
    status_code = 409
    code = "Conflict"


class ValidationFailed(ParleyError):
    status_code = 422
    code = "ValidationError"


class TooManyRequests(ParleyError):
    status_code = 429
    code = "TooManyRequests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(ParleyError):
    status_code = 503
    code = "StorageUnavailable"

    def __init__(self, detail: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def _render(error: ParleyError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.detail),
        status_code=error.status_code,
        headers=error.headers(),
    )


def _describe_validation(errors: list[Any]) -> str:
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or "request"
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{field}: {message}"


_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


# What FastAPI raises (as a 400 HTTPException) for a body it cannot decode at
# all, e.g. bytes that are not UTF-8; JSON syntax errors come as validation errors.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _methods_for(request: Request) -> list[str]:
    """Every method some route accepts on this path (Starlette's 405 names only
    the first route that matched the path, one method of several)."""
    allowed = []
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _unparseable_body(request: Request, detail: str = "The body is not valid JSON.") -> ParleyError:
    """A body that is not JSON: 401 first if the route needs a caller and has
    none (auth before body), else 400."""
    from parley.security.auth_first import auth_failure  # imports parley.errors

    return auth_failure(request) or BadRequest(detail)


def _declared_not_json(request: Request, errors: list[Any]) -> bool:
    """A body sent with a Content-Type that is not JSON (a form, text/plain):
    FastAPI does not parse it and reports the raw bytes as the wrong type,
    which would read as a 422 for a body that was never JSON at all."""
    content_type = request.headers.get("content-type")
    if content_type is None:  # FastAPI parses a body without one as JSON
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return False
    return any(tuple(error.get("loc", ())) == ("body",) for error in errors)


def _conflict(exc: StorageConflict) -> ParleyError:
    """What a constraint violation that reached the edge means for the caller.

    A foreign key to `profiles` fails when the token's profile no longer exists
    (profiles are the only rows a request references by its token alone): that
    caller is not authenticated any more. Anything else lost a race: 409."""
    if exc.kind == "foreign_key" and (exc.constraint or "").endswith("_profiles"):
        return Unauthorized("The account this token belongs to no longer exists.")
    return Conflict("The request conflicts with a concurrent change; reload and retry.")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, ours and the framework's, as `{"error", "detail"}`."""

    async def on_parley_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ParleyError)
        return _render(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        if any(error.get("type") == "json_invalid" for error in errors):
            return _render(_unparseable_body(request))
        if _declared_not_json(request, errors):
            return _render(
                _unparseable_body(
                    request, "The body must be JSON (Content-Type: application/json)."
                )
            )
        return _render(ValidationFailed(_describe_validation(errors)))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
            return _render(_unparseable_body(request))
        code = _HTTP_CODES.get(exc.status_code, "HTTPError")
        detail = exc.detail if isinstance(exc.detail, str) else code
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_methods_for(request))
        return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers)

    async def on_storage_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StorageError)
        if isinstance(exc, StorageConflict):
            log.info(
                "storage_conflict",
                store=exc.store,
                operation=exc.operation,
                kind=exc.kind,
                constraint=exc.constraint,
            )
            return _render(_conflict(exc))
        log.warning("storage_unavailable", store=exc.store, operation=exc.operation, error=str(exc))
        return _render(
            ServiceUnavailable(f"The {exc.store} database is unavailable; retry shortly.")
        )

    app.add_exception_handler(ParleyError, on_parley_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(StorageError, on_storage_error)
