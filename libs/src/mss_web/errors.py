"""Errors that carry their own HTTP status and API error code."""

from __future__ import annotations

from typing import Any

from mss_contracts.api import ErrorCode


class AppError(Exception):
    status = 500
    code = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code


class BadRequest(AppError):
    status = 400
    code = ErrorCode.BAD_REQUEST


class Unauthorized(AppError):
    status = 401
    code = ErrorCode.AUTHENTICATION_REQUIRED


class Forbidden(AppError):
    status = 403
    code = ErrorCode.FORBIDDEN


class NotFound(AppError):
    status = 404
    code = ErrorCode.NOT_FOUND


class Conflict(AppError):
    status = 409
    code = ErrorCode.CONFLICT


class InvalidStateTransition(AppError):
    status = 409
    code = ErrorCode.INVALID_STATE_TRANSITION


class ValidationFailed(AppError):
    status = 422
    code = ErrorCode.VALIDATION_ERROR


class Locked(AppError):
    status = 423
    code = ErrorCode.ACCOUNT_LOCKED


class RateLimited(AppError):
    status = 429
    code = ErrorCode.RATE_LIMITED


class ServiceUnavailable(AppError):
    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE
