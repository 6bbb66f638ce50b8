"""The identity service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from fastapi import FastAPI

from mss_contracts.api import ErrorCode
from mss_contracts.errors import (
    ApiError,
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
from mss_grants.projection import TABLE as GRANTS_TABLE
from mss_identity.adapters.keys import KeyRing, load_keys
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.api.api_keys import router as api_keys_router
from mss_identity.api.routes import router
from mss_identity.api.users import router as users_router
from mss_identity.application.api_keys import ApiKeyNotFound, InvalidApiKey
from mss_identity.application.auth import (
    AccountLockedError,
    AmbiguousAccount,
    AuthDeps,
    InvalidCredentials,
    InvalidMfaCode,
    MfaThrottled,
    OrganizationInactive,
    RefreshTokenReused,
    SessionInvalid,
    SessionNotFound,
)
from mss_identity.application.mfa import MfaAlreadyEnabled, MfaNotEnabled
from mss_identity.application.passwords import WeakPassword
from mss_identity.application.recovery import InvalidUserToken
from mss_identity.application.users import (
    OrganizationNotFound,
    RoleNotAllowed,
    RoleNotGrantable,
    SelfChangeRefused,
    UserNotFound,
    UserStateConflict,
)
from mss_identity.config import SERVICE, SERVICE_DIR, IdentitySettings
from mss_identity.domain.api_keys import InvalidPermissions
from mss_identity.domain.user_rules import EmailTaken
from mss_service import ServiceRuntime, create_service_app
from mss_web.handlers import ErrorMapping, map_domain_errors


def build_runtime(settings: IdentitySettings | None = None) -> ServiceRuntime:
    settings = settings or IdentitySettings()
    keys_dir = settings.keys_dir

    async def local_keys() -> Mapping[str, EllipticCurvePublicKey]:
        # Identity verifies its own tokens from its key files, never over HTTP.
        return load_keys(keys_dir).public()

    return ServiceRuntime(
        service=SERVICE,
        settings=settings,
        service_dir=SERVICE_DIR,
        key_loader=local_keys,
        grants_table=GRANTS_TABLE,
    )


def build_hasher(settings: IdentitySettings) -> PasswordHasher:
    return PasswordHasher(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        workers=settings.password_hash_workers,
    )


async def _startup(runtime: ServiceRuntime, app: FastAPI) -> None:
    settings = runtime.settings
    assert isinstance(settings, IdentitySettings)
    app.state.auth_deps = AuthDeps(
        uow=runtime.uow,
        hasher=build_hasher(settings),
        keys=KeyRing(settings.keys_dir),
        sessions=runtime.sessions,
        settings=settings,
        redis=runtime.redis,
    )


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    app = create_service_app(
        title="MSS identity service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, users_router, api_keys_router],
        extra_startup=_startup,
    )
    map_domain_errors(app, DOMAIN_ERRORS)
    return app


def _validation(field: str) -> Callable[[Exception], ApiError]:
    return lambda exc: ValidationFailed("Validation failed", details={field: str(exc)})


def _weak_password(exc: Exception) -> ApiError:
    assert isinstance(exc, WeakPassword)
    return ValidationFailed("Validation failed", details={exc.field: f"Password {exc.problem}"})


def _account_locked(exc: Exception) -> ApiError:
    assert isinstance(exc, AccountLockedError)
    return Locked(str(exc), details={"lockedUntil": exc.locked_until.isoformat()})


def _ambiguous_account(exc: Exception) -> ApiError:
    assert isinstance(exc, AmbiguousAccount)
    choices = [
        {"organizationId": str(c.organization_id), "name": c.organization_name} for c in exc.choices
    ]
    return Conflict(str(exc), details={"organizations": choices})


def _unauthorized(message: str, code: ErrorCode) -> Callable[[Exception], ApiError]:
    return lambda exc: Unauthorized(message, code=code)


DOMAIN_ERRORS: dict[type[Exception], ErrorMapping] = {
    OrganizationInactive: Forbidden,
    SessionNotFound: NotFound,
    UserNotFound: NotFound,
    ApiKeyNotFound: NotFound,
    OrganizationNotFound: NotFound,
    MfaAlreadyEnabled: Conflict,
    MfaNotEnabled: Conflict,
    RoleNotGrantable: Forbidden,
    EmailTaken: Conflict,
    SelfChangeRefused: Conflict,
    UserStateConflict: InvalidStateTransition,
    InvalidUserToken: BadRequest,
    RoleNotAllowed: _validation("role"),
    InvalidPermissions: _validation("permissions"),
    WeakPassword: _weak_password,
    AccountLockedError: _account_locked,
    AmbiguousAccount: _ambiguous_account,
    InvalidCredentials: _unauthorized("Invalid email or password", ErrorCode.INVALID_CREDENTIALS),
    InvalidApiKey: _unauthorized("Invalid API key", ErrorCode.INVALID_CREDENTIALS),
    InvalidMfaCode: _unauthorized("Invalid MFA code", ErrorCode.INVALID_MFA_CODE),
    SessionInvalid: _unauthorized("Invalid or expired refresh token", ErrorCode.INVALID_TOKEN),
    RefreshTokenReused: _unauthorized(
        "Refresh token reused: the session has been revoked", ErrorCode.SESSION_REVOKED
    ),
    MfaThrottled: lambda exc: RateLimited(
        "Too many wrong MFA codes; try again later", headers={"Retry-After": "300"}
    ),
}
