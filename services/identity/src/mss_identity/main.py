"""The identity service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mss_contracts.api import ErrorCode
from mss_identity.adapters.keys import load_keys
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
from mss_web.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidStateTransition,
    NotFound,
)
from mss_web.handlers import error_response, map_domain_errors


def build_runtime(settings: IdentitySettings | None = None) -> ServiceRuntime:
    settings = settings or IdentitySettings()
    keys_dir = settings.keys_dir

    async def local_keys() -> Mapping[str, EllipticCurvePublicKey]:
        # Identity verifies its own tokens from its key files, never over HTTP.
        return load_keys(keys_dir).public()

    return ServiceRuntime(
        service=SERVICE, settings=settings, service_dir=SERVICE_DIR, key_loader=local_keys
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
        keys=load_keys(settings.keys_dir),
        sessions=runtime.sessions,
        settings=settings,
        redis=runtime.redis,
    )


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool = True
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    app = create_service_app(
        title="MSS identity service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, users_router, api_keys_router],
        extra_startup=_startup,
    )
    map_domain_errors(
        app, {OrganizationInactive: Forbidden, SessionNotFound: NotFound, UserNotFound: NotFound}
    )
    map_domain_errors(app, {MfaAlreadyEnabled: Conflict, MfaNotEnabled: Conflict})
    map_domain_errors(app, {ApiKeyNotFound: NotFound})
    map_domain_errors(
        app,
        {
            OrganizationNotFound: NotFound,
            RoleNotGrantable: Forbidden,
            EmailTaken: Conflict,
            SelfChangeRefused: Conflict,
            UserStateConflict: InvalidStateTransition,
            InvalidUserToken: BadRequest,
        },
    )
    app.add_exception_handler(RoleNotAllowed, _role_not_allowed)
    app.add_exception_handler(WeakPassword, _weak_password)
    app.add_exception_handler(InvalidMfaCode, _invalid_mfa_code)
    app.add_exception_handler(MfaThrottled, _mfa_throttled)
    app.add_exception_handler(AccountLockedError, _account_locked)
    app.add_exception_handler(SessionInvalid, _session_invalid)
    app.add_exception_handler(RefreshTokenReused, _refresh_reused)
    app.add_exception_handler(InvalidCredentials, _invalid_credentials)
    app.add_exception_handler(AmbiguousAccount, _ambiguous_account)
    app.add_exception_handler(InvalidApiKey, _invalid_api_key)
    app.add_exception_handler(InvalidPermissions, _invalid_permissions)
    return app


async def _invalid_api_key(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request, status=401, code=ErrorCode.INVALID_CREDENTIALS, message="Invalid API key"
    )


async def _invalid_permissions(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        status=422,
        code=ErrorCode.VALIDATION_ERROR,
        message="Validation failed",
        details={"permissions": str(exc)},
    )


async def _invalid_credentials(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request, status=401, code=ErrorCode.INVALID_CREDENTIALS, message="Invalid email or password"
    )


async def _weak_password(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WeakPassword)
    return error_response(
        request,
        status=422,
        code=ErrorCode.VALIDATION_ERROR,
        message="Validation failed",
        details={exc.field: f"Password {exc.problem}"},
    )


async def _role_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        status=422,
        code=ErrorCode.VALIDATION_ERROR,
        message="Validation failed",
        details={"role": str(exc)},
    )


async def _invalid_mfa_code(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request, status=401, code=ErrorCode.INVALID_MFA_CODE, message="Invalid MFA code"
    )


async def _mfa_throttled(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        status=429,
        code=ErrorCode.RATE_LIMITED,
        message="Too many wrong MFA codes; try again later",
        headers={"Retry-After": "300"},
    )


async def _account_locked(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AccountLockedError)
    return error_response(
        request,
        status=423,
        code=ErrorCode.ACCOUNT_LOCKED,
        message=str(exc),
        details={"lockedUntil": exc.locked_until.isoformat()},
    )


async def _session_invalid(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        status=401,
        code=ErrorCode.INVALID_TOKEN,
        message="Invalid or expired refresh token",
    )


async def _refresh_reused(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        request,
        status=401,
        code=ErrorCode.SESSION_REVOKED,
        message="Refresh token reused: the session has been revoked",
    )


async def _ambiguous_account(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AmbiguousAccount)
    return error_response(
        request,
        status=409,
        code=ErrorCode.CONFLICT,
        message=str(exc),
        details={
            "organizations": [
                {"organizationId": str(c.organization_id), "name": c.organization_name}
                for c in exc.choices
            ]
        },
    )
