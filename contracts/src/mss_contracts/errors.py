"""Errors that carry their own HTTP status and API error code (API.md "Envelope").

One family for every layer: a service's domain errors (`domain/errors.py`) subclass these,
the shared libraries raise them, and one handler answers each in the error envelope, so no
service lists its error classes by hand. Pure Python: domains may import it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mss_contracts.api import ErrorCode


class ApiError(Exception):
    """Base of every error a request can end with; subclasses fix `status` and `code`."""

    status: ClassVar[int] = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = ErrorCode.BAD_REQUEST
    default_message = "Bad request"


class Unauthorized(ApiError):
    status = 401
    code = ErrorCode.AUTHENTICATION_REQUIRED
    default_message = "Authentication required"


class Forbidden(ApiError):
    status = 403
    code = ErrorCode.FORBIDDEN
    default_message = "Forbidden"


class NotFound(ApiError):
    """Unknown, or another tenant's: the message never says which (nor echoes the id)."""

    status = 404
    code = ErrorCode.NOT_FOUND
    default_message = "Resource not found"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(None, **kwargs)


class Conflict(ApiError):
    status = 409
    code = ErrorCode.CONFLICT
    default_message = "Conflict"


class InvalidStateTransition(ApiError):
    status = 409
    code = ErrorCode.INVALID_STATE_TRANSITION
    default_message = "This step is not allowed in the current state"


class PreconditionFailed(ApiError):
    status = 412
    code = ErrorCode.PRECONDITION_FAILED
    default_message = "The resource has changed since the version given in If-Match"


class ValidationFailed(ApiError):
    status = 422
    code = ErrorCode.VALIDATION_ERROR
    default_message = "Validation failed"


class Locked(ApiError):
    status = 423
    code = ErrorCode.ACCOUNT_LOCKED
    default_message = "Account locked"


class RateLimited(ApiError):
    status = 429
    code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests"


class ServiceUnavailable(ApiError):
    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE
    default_message = "Service unavailable"
