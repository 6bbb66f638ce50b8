"""Every error leaves a service in the API envelope; nothing internal reaches the client."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mss_contracts.api import ErrorBody, ErrorCode
from mss_contracts.errors import ApiError

log = logging.getLogger("mss.errors")

_STATUS_CODES: dict[int, tuple[ErrorCode, str]] = {
    400: (ErrorCode.BAD_REQUEST, "Bad request"),
    401: (ErrorCode.AUTHENTICATION_REQUIRED, "Authentication required"),
    403: (ErrorCode.FORBIDDEN, "Forbidden"),
    404: (ErrorCode.NOT_FOUND, "Resource not found"),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "Method not allowed"),
    409: (ErrorCode.CONFLICT, "Conflict"),
    413: (ErrorCode.PAYLOAD_TOO_LARGE, "Payload too large"),
    422: (ErrorCode.VALIDATION_ERROR, "Validation failed"),
    429: (ErrorCode.RATE_LIMITED, "Too many requests"),
    503: (ErrorCode.SERVICE_UNAVAILABLE, "Service unavailable"),
}


# The answers that refuse a caller what it asked for (ASVS V16.3: denied actions are
# audited): missing permission, another tenant's or an unknown id, too many requests.
REFUSALS = frozenset({403, 404, 429})

# `observer(request, status, code, message)`, called for every refusal the app answers.
RefusalObserver = Callable[[Request, int, ErrorCode, str], None]


def observe_refusals(app: FastAPI, observer: RefusalObserver) -> None:
    """Let `observer` hear of every 403, 404 and 429 the app answers, as it answers.

    The observer runs on the request path: it must be cheap (no I/O). Whatever it does, the
    answer is the same: an exception it raises is logged, never sent.
    """
    app.state.refusal_observer = observer


def _tell_refusal(request: Request, status: int, code: ErrorCode, message: str) -> None:
    app = request.scope.get("app")
    observer = getattr(getattr(app, "state", None), "refusal_observer", None)
    if observer is None:
        return
    try:
        observer(request, status, code, message)
    except Exception:
        log.exception("recording a refusal of %s %s failed", request.method, request.url.path)


def error_response(
    request: Request,
    *,
    status: int,
    code: ErrorCode,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    if status in REFUSALS:
        _tell_refusal(request, status, code, message)
    body = ErrorBody(
        error=message,
        code=code,
        details=details,
        timestamp=datetime.now(UTC).isoformat(),
        path=request.url.path,
    )
    all_headers = dict(headers or {})
    # A 500 is sent by Starlette's outermost middleware, past our request-id middleware.
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        all_headers["X-Request-ID"] = request_id
    return JSONResponse(
        body.model_dump(mode="json", by_alias=True, exclude_none=True),
        status_code=status,
        headers=all_headers,
    )


def _field(loc: tuple[int | str, ...]) -> str:
    """The field as API.md names it: `alerts[3].severity` (list items by index in brackets)."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request,
        status=exc.status,
        code=exc.code,
        message=exc.message,
        details=exc.details,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(
            request, status=400, code=ErrorCode.BAD_REQUEST, message="Malformed JSON body"
        )
    details: dict[str, Any] = {}
    for error in errors:
        details.setdefault(_field(tuple(error.get("loc", ()))), error.get("msg", "invalid"))
    return error_response(
        request,
        status=422,
        code=ErrorCode.VALIDATION_ERROR,
        message="Validation failed",
        details=details,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _STATUS_CODES.get(exc.status_code, (ErrorCode.INTERNAL_ERROR, "Error"))
    return error_response(
        request, status=exc.status_code, code=code, message=message, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        request, status=500, code=ErrorCode.INTERNAL_ERROR, message="Internal server error"
    )


# SQLSTATEs of text PostgreSQL cannot store (U+0000 in text or jsonb): the client's input,
# typically a query parameter (bodies refuse it in ApiInput), so a 422, not a 500.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})
_NUL_MESSAGE = "must not contain NUL (U+0000) characters"


def _is_unstorable_text(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in _UNSTORABLE_TEXT:
            return True
        current = current.__cause__ or current.__context__
    return False


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not _is_unstorable_text(exc):
        return await _unexpected(request, exc)
    details: dict[str, Any] = {
        name: _NUL_MESSAGE
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    }
    return error_response(
        request,
        status=422,
        code=ErrorCode.VALIDATION_ERROR,
        message="Validation failed",
        details=details or {"body": _NUL_MESSAGE},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
