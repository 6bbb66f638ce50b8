"""Identity's errors: each carries its HTTP status, API error code, message and details."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mss_contracts.api import ErrorCode
from mss_contracts.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidStateTransition,
    Locked,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.domain.mfa import ATTEMPT_WINDOW_S
from mss_identity.domain.users import OrgRef

# --- signing in -----------------------------------------------------------------------------


class InvalidCredentials(Unauthorized):
    """Unknown email and wrong password look exactly alike."""

    code = ErrorCode.INVALID_CREDENTIALS
    default_message = "Invalid email or password"


class AccountLocked(Locked):
    def __init__(self, locked_until: datetime) -> None:
        super().__init__(
            "Account temporarily locked after repeated failed logins",
            details={"lockedUntil": locked_until.isoformat()},
        )


class LoginBudgetSpent(RateLimited):
    """This client address has used up its failed logins for the window (a slow spray)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "Too many failed logins from this address; try again later",
            headers={"Retry-After": str(retry_after_s)},
        )


class AmbiguousAccount(Conflict):
    """The password verified for several memberships of the email and the login named
    none of them: only those memberships are offered."""

    def __init__(self, choices: Sequence[OrgRef]) -> None:
        super().__init__(
            "This email exists in several organizations: choose one",
            details={
                "organizations": [
                    {"organizationId": str(org.id), "name": org.name} for org in choices
                ]
            },
        )


class OrganizationInactive(Forbidden):
    default_message = "The organization is suspended"


class SessionInvalid(Unauthorized):
    """The refresh token is unknown, expired, or its session has ended."""

    code = ErrorCode.INVALID_TOKEN
    default_message = "Invalid or expired refresh token"


class InvalidMfaToken(Unauthorized):
    """The `mfaToken` is unknown, expired or already used, or its user can no longer sign in."""

    code = ErrorCode.INVALID_TOKEN
    default_message = "Invalid or expired MFA token: log in again"


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: the session is presumed stolen and revoked."""

    code = ErrorCode.SESSION_REVOKED
    default_message = "Refresh token reused: the session has been revoked"


class SessionNotFound(NotFound):
    pass


class InvalidMfaCode(Unauthorized):
    code = ErrorCode.INVALID_MFA_CODE
    default_message = "Invalid MFA code"


class MfaThrottled(RateLimited):
    def __init__(self) -> None:
        super().__init__(
            "Too many wrong MFA codes; try again later",
            headers={"Retry-After": str(ATTEMPT_WINDOW_S)},
        )


class PasswordAttemptsThrottled(RateLimited):
    """Too many wrong current passwords at password change, counted like MFA codes."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "Too many wrong current passwords; try again later",
            headers={"Retry-After": str(retry_after_s)},
        )


class MfaAlreadyEnabled(Conflict):
    default_message = "MFA is already enabled"


class MfaNotEnabled(Conflict):
    default_message = "MFA is not enabled"


class WeakPassword(ValidationFailed):
    """The password policy refuses it; `field` names the body field it came in."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(details={field: f"Password {problem}"})


class InvalidUserToken(BadRequest):
    """Unknown, used, expired, or for a user who can no longer use it."""

    default_message = "Invalid or expired token"


# --- administering users ----------------------------------------------------------------------


class UserNotFound(NotFound):
    pass


class OrganizationNotFound(NotFound):
    pass


class EmailTaken(Conflict):
    """The organization already has a user with this email (the message is that email)."""

    def __init__(self, email: str) -> None:
        super().__init__(email)


class RoleNotAllowed(ValidationFailed):
    """The role does not exist in this type of organization."""

    def __init__(self, role: Role, org_type: OrganizationType) -> None:
        super().__init__(
            details={"role": f"Role {role.value} is not allowed in a {org_type.value} organization"}
        )


class RoleNotGrantable(Forbidden):
    """The actor lacks some permission of the role."""

    def __init__(self, role: Role) -> None:
        super().__init__(f"You may not manage users with the role {role.value}")


class SelfChangeRefused(Conflict):
    pass


class UpdateNotPermitted(Forbidden):
    """Someone else's account, without `users:update` (as the permission check says it)."""

    default_message = "Missing permission users:update"


class ProfileChangeRefused(Forbidden):
    """Without `users:update`, a user changes its own first and last name, nothing else."""

    default_message = "You may change only your own first and last name"


class UserStateConflict(InvalidStateTransition):
    pass


# --- API keys -----------------------------------------------------------------------------------


class ApiKeyNotFound(NotFound):
    pass


class InvalidApiKey(Unauthorized):
    """Unknown, revoked, or of an inactive organization: all look alike."""

    code = ErrorCode.INVALID_CREDENTIALS
    default_message = "Invalid API key"


class InvalidPermissions(ValidationFailed):
    """The requested permissions are empty, unknown, or include the wildcard."""

    def __init__(self, problem: str) -> None:
        super().__init__(details={"permissions": problem})
