"""Identity's errors carry the status, code, message, details and headers the API answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mss_contracts.api import ErrorCode
from mss_contracts.errors import ApiError
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.domain import errors
from mss_identity.domain.users import OrgRef

LOCKED_UNTIL = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
ORG = OrgRef(id=uuid.uuid4(), name="Acme", type=OrganizationType.CUSTOMER, status="active")


@pytest.mark.parametrize(
    ("error", "status", "code", "message", "details"),
    [
        (
            errors.InvalidCredentials(),
            401,
            ErrorCode.INVALID_CREDENTIALS,
            "Invalid email or password",
            None,
        ),
        (
            errors.AccountLocked(LOCKED_UNTIL),
            423,
            ErrorCode.ACCOUNT_LOCKED,
            "Account temporarily locked after repeated failed logins",
            {"lockedUntil": "2026-05-01T12:30:00+00:00"},
        ),
        (
            errors.AmbiguousAccount([ORG]),
            409,
            ErrorCode.CONFLICT,
            "This email exists in several organizations: choose one",
            {"organizations": [{"organizationId": str(ORG.id), "name": "Acme"}]},
        ),
        (
            errors.SessionInvalid(),
            401,
            ErrorCode.INVALID_TOKEN,
            "Invalid or expired refresh token",
            None,
        ),
        (
            errors.RefreshTokenReused(),
            401,
            ErrorCode.SESSION_REVOKED,
            "Refresh token reused: the session has been revoked",
            None,
        ),
        (errors.InvalidMfaCode(), 401, ErrorCode.INVALID_MFA_CODE, "Invalid MFA code", None),
        (
            errors.InvalidMfaToken(),
            401,
            ErrorCode.INVALID_TOKEN,
            "Invalid or expired MFA token: log in again",
            None,
        ),
        (
            errors.UpdateNotPermitted(),
            403,
            ErrorCode.FORBIDDEN,
            "Missing permission users:update",
            None,
        ),
        (
            errors.ProfileChangeRefused(),
            403,
            ErrorCode.FORBIDDEN,
            "You may change only your own first and last name",
            None,
        ),
        (
            errors.WeakPassword("newPassword", "must be at least 12 characters"),
            422,
            ErrorCode.VALIDATION_ERROR,
            "Validation failed",
            {"newPassword": "Password must be at least 12 characters"},
        ),
        (
            errors.RoleNotAllowed(Role.SECURITY_ANALYST, OrganizationType.CUSTOMER),
            422,
            ErrorCode.VALIDATION_ERROR,
            "Validation failed",
            {"role": "Role security_analyst is not allowed in a customer organization"},
        ),
        (
            errors.InvalidPermissions("An API key can never hold *:*"),
            422,
            ErrorCode.VALIDATION_ERROR,
            "Validation failed",
            {"permissions": "An API key can never hold *:*"},
        ),
        (
            errors.RoleNotGrantable(Role.SUPER_ADMIN),
            403,
            ErrorCode.FORBIDDEN,
            "You may not manage users with the role super_admin",
            None,
        ),
        (errors.InvalidUserToken(), 400, ErrorCode.BAD_REQUEST, "Invalid or expired token", None),
        (errors.InvalidApiKey(), 401, ErrorCode.INVALID_CREDENTIALS, "Invalid API key", None),
        (
            errors.UserStateConflict("The user is inactive"),
            409,
            ErrorCode.INVALID_STATE_TRANSITION,
            "The user is inactive",
            None,
        ),
    ],
)
def test_each_error_answers_as_the_api_documents(
    error: ApiError, status: int, code: ErrorCode, message: str, details: object
) -> None:
    assert (error.status, error.code, error.message, error.details) == (
        status,
        code,
        message,
        details,
    )


def test_throttled_mfa_says_when_to_retry() -> None:
    throttled = errors.MfaThrottled()
    assert (throttled.status, throttled.code) == (429, ErrorCode.RATE_LIMITED)
    assert throttled.headers == {"Retry-After": "300"}


@pytest.mark.parametrize(
    ("throttled", "message"),
    [
        (
            errors.LoginBudgetSpent(1200),
            "Too many failed logins from this address; try again later",
        ),
        (
            errors.PasswordAttemptsThrottled(1200),
            "Too many wrong current passwords; try again later",
        ),
    ],
)
def test_throttled_logins_and_password_changes_say_when_to_retry(
    throttled: ApiError, message: str
) -> None:
    assert (throttled.status, throttled.code, throttled.message) == (
        429,
        ErrorCode.RATE_LIMITED,
        message,
    )
    assert throttled.headers == {"Retry-After": "1200"}


@pytest.mark.parametrize(
    "missing",
    [
        errors.UserNotFound,
        errors.OrganizationNotFound,
        errors.SessionNotFound,
        errors.ApiKeyNotFound,
    ],
)
def test_not_found_never_echoes_what_was_asked_for(missing: type[ApiError]) -> None:
    error = missing(str(uuid.uuid4()))
    assert (error.status, error.code, error.message) == (
        404,
        ErrorCode.NOT_FOUND,
        "Resource not found",
    )
