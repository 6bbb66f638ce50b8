"""FastAPI dependencies: the verified principal and the permission check of each route."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import Depends, Request

from mss_auth.principal import Principal
from mss_auth.service_tokens import ServiceTokens
from mss_auth.sessions import SessionStore
from mss_auth.tokens import KeysUnavailable, TokenError, TokenVerifier
from mss_contracts.api import ErrorCode
from mss_contracts.errors import Forbidden, ServiceUnavailable, Unauthorized
from mss_contracts.permissions import Role
from mss_db.scope import OrgScope
from mss_web.context import client_address

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class GrantLookup(Protocol):
    """Which customer organizations a technician's grants open, from here, right now."""

    async def granted_orgs(
        self, technician_id: UUID, *, ip: str | None, now: datetime
    ) -> frozenset[UUID]: ...


@dataclass(frozen=True, slots=True)
class AuthRuntime:
    """What the auth dependencies need; set as `app.state.auth` by each service.

    `grants`: the service's view of technician access grants; without one, technicians
    see only their own provider organization. `service_tokens`: what the internal
    routes verify; without it they refuse every call.
    """

    verifier: TokenVerifier
    sessions: SessionStore
    trusted_proxies: list[str]
    grants: GrantLookup | None = None
    service_tokens: ServiceTokens | None = None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """Verify the token (again: the gateway is the first check, not the only one)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    runtime: AuthRuntime = request.app.state.auth
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Authentication required", headers=_CHALLENGE)
    try:
        claims = await runtime.verifier.verify(token)
    except KeysUnavailable as exc:
        raise ServiceUnavailable("Token keys unavailable") from exc
    except TokenError as exc:
        raise Unauthorized(
            "Invalid or expired token", code=ErrorCode.INVALID_TOKEN, headers=_CHALLENGE
        ) from exc
    if not await runtime.sessions.is_active(claims.sid):
        raise Unauthorized(
            "Session has been revoked", code=ErrorCode.SESSION_REVOKED, headers=_CHALLENGE
        )
    principal = Principal.from_claims(
        claims,
        ip_address=client_address(request.scope, runtime.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )
    if principal.role is Role.TECHNICIAN and claims.permissions is None:
        principal = await _with_granted_orgs(principal, runtime.grants)
    request.state.principal = principal
    return principal


async def _with_granted_orgs(principal: Principal, grants: GrantLookup | None) -> Principal:
    """A technician's scope: its own org plus every org whose grant admits it now, from here."""
    if grants is None:
        return principal
    granted = await grants.granted_orgs(
        principal.user_id, ip=principal.ip_address, now=datetime.now(UTC)
    )
    if not granted:
        return principal
    return dataclasses.replace(principal, scope=OrgScope.of(principal.scope.org_ids | granted))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class PermissionCheck:
    """`Depends(require("organizations:create"))`; the route walker reads `.permissions`.

    Several permissions mean any one of them (a list two roles reach by different rights,
    the handler then narrowing what each sees).
    """

    def __init__(self, *permissions: str) -> None:
        if not permissions:
            raise ValueError("a permission check needs at least one permission")
        self.permissions = permissions

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        refuse_pending_enrollment(principal)
        if not any(principal.can(permission) for permission in self.permissions):
            raise Forbidden(f"Missing permission {' or '.join(self.permissions)}")
        return principal


def require(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    return PermissionCheck(*permissions)


class Authenticated:
    """For self-service routes every signed-in user may call (own profile, own sessions).

    `during_enrollment`: also open to a user whose organization requires MFA and who has
    not enrolled yet (the enrolment routes themselves, `me`, logout).
    `api_keys`: also open to a token exchanged from an API key (logout); the other
    self-service routes are about a user account, which such a token does not have.
    """

    permission: str | None = None

    def __init__(self, *, during_enrollment: bool = False, api_keys: bool = False) -> None:
        self.during_enrollment = during_enrollment
        self.api_keys = api_keys

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if principal.api_key and not self.api_keys:
            raise Forbidden(
                "This token was exchanged from an API key: it has no user account, "
                "and this route serves only signed-in users"
            )
        if not self.during_enrollment:
            refuse_pending_enrollment(principal)
        return principal


def authenticated(
    *, during_enrollment: bool = False, api_keys: bool = False
) -> Callable[..., Awaitable[Principal]]:
    return Authenticated(during_enrollment=during_enrollment, api_keys=api_keys)


class ServiceCaller:
    """`Depends(ServiceCaller())` on every `/internal/...` route: a service token for this
    service, nothing else (a user's token is refused); returns the calling service."""

    async def __call__(self, request: Request) -> str:
        tokens = request.app.state.auth.service_tokens
        token = bearer_token(request)
        if token is None or tokens is None:
            raise Unauthorized("Service token required", headers=_CHALLENGE)
        try:
            caller: str = tokens.verify(token)
        except TokenError as exc:
            raise Unauthorized(
                "Invalid or expired service token", code=ErrorCode.INVALID_TOKEN, headers=_CHALLENGE
            ) from exc
        return caller


def refuse_pending_enrollment(principal: Principal) -> None:
    if principal.mfa_enrollment_required:
        raise Forbidden(
            "Your organization requires MFA: enrol at /api/auth/mfa/setup first",
            code=ErrorCode.MFA_ENROLLMENT_REQUIRED,
        )
