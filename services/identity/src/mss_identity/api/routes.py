"""HTTP routes of identity (API.md "Auth")."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mss_auth.dependencies import authenticated, require
from mss_auth.principal import Principal
from mss_db import OrgScope
from mss_identity.api.runtime import Runtime
from mss_identity.api.schemas import (
    BackupCodesRead,
    ForgotPasswordBody,
    LoginBody,
    MeRead,
    MfaChallengeRead,
    MfaCodeBody,
    MfaCompleteBody,
    MfaSetupRead,
    OrganizationRef,
    OrgScopeRead,
    PasswordChangeBody,
    RefreshBody,
    ResetPasswordBody,
    SessionRead,
    TokenPair,
    UserRead,
    VerifyEmailBody,
)
from mss_identity.api.users import actor_of
from mss_identity.application import auth as use
from mss_identity.application import mfa, passwords, recovery, users
from mss_service import event_context
from mss_web.envelope import Envelope

router = APIRouter(tags=["auth"])

SignedIn = Annotated[Principal, Depends(authenticated())]
# Also for a user who must still enrol in MFA: enrolment itself, `me`, logout.
Enrolling = Annotated[Principal, Depends(authenticated(during_enrollment=True))]
# Any token at all, an API key's included: ending the session of the token used.
AnyToken = Annotated[Principal, Depends(authenticated(during_enrollment=True, api_keys=True))]
UserUpdater = Annotated[Principal, Depends(require("users:update"))]

# The routes before sign-in (login, refresh, recovery) see every organization: the
# credential they carry decides whose account it is.
ALL_ORGS = OrgScope.everything()


def _me(principal: Principal, request: Request) -> use.Me:
    return use.Me(
        user_id=principal.user_id,
        session_id=principal.session_id,
        ctx=event_context(request, principal),
    )


def _pair(result: use.LoginResult) -> Envelope[TokenPair]:
    return Envelope(
        data=TokenPair(
            access_token=result.access.token,
            refresh_token=result.refresh_token,
            expires_in=result.access.expires_in,
            user=UserRead.model_validate(result.user),
        )
    )


@router.post("/api/auth/login", response_model=Envelope[TokenPair | MfaChallengeRead])
async def login(
    body: LoginBody, request: Request, rt: Runtime
) -> Envelope[TokenPair] | Envelope[MfaChallengeRead]:
    cmd = use.Login(email=body.email, password=body.password, organization_id=body.organization_id)
    result = await use.login(
        cmd,
        uow_factory=rt.uow,
        hasher=rt.hasher,
        tokens=rt.tokens,
        sessions=rt.sessions,
        redis=rt.redis,
        guards=rt.login_guards,
        refusals=rt.refusals(request),
        ctx=event_context(request, None),
    )
    if isinstance(result, use.MfaChallenge):
        return Envelope(data=MfaChallengeRead(mfa_token=result.mfa_token))
    return _pair(result)


@router.post("/api/auth/mfa/complete", response_model=Envelope[TokenPair])
async def complete_mfa(body: MfaCompleteBody, request: Request, rt: Runtime) -> Envelope[TokenPair]:
    async with rt.uow(ALL_ORGS) as uow:
        result = await use.complete_mfa(
            body.mfa_token,
            body.code,
            uow=uow,
            tokens=rt.tokens,
            sessions=rt.sessions,
            redis=rt.redis,
            refusals=rt.refusals(request),
            ctx=event_context(request, None),
        )
    return _pair(result)


@router.post("/api/auth/mfa/setup", response_model=Envelope[MfaSetupRead])
async def mfa_setup(principal: Enrolling, rt: Runtime) -> Envelope[MfaSetupRead]:
    async with rt.uow(principal.scope) as uow:
        enrollment = await mfa.setup(principal.user_id, uow=uow)
    return Envelope(data=MfaSetupRead.model_validate(enrollment))


@router.post("/api/auth/mfa/enable", response_model=Envelope[BackupCodesRead])
async def mfa_enable(
    body: MfaCodeBody, principal: Enrolling, request: Request, rt: Runtime
) -> Envelope[BackupCodesRead]:
    async with rt.uow(principal.scope) as uow:
        codes = await mfa.enable(
            _me(principal, request),
            body.code,
            uow=uow,
            sessions=rt.sessions,
            refusals=rt.refusals(request),
        )
    return Envelope(data=BackupCodesRead(backup_codes=codes))


@router.post("/api/auth/mfa/disable", status_code=204)
async def mfa_disable(
    body: MfaCodeBody, principal: SignedIn, request: Request, rt: Runtime
) -> Response:
    async with rt.uow(principal.scope) as uow:
        await mfa.disable(
            _me(principal, request),
            body.code,
            uow=uow,
            sessions=rt.sessions,
            refusals=rt.refusals(request),
        )
    return Response(status_code=204)


@router.post("/api/auth/mfa/backup-codes", response_model=Envelope[BackupCodesRead])
async def mfa_backup_codes(
    body: MfaCodeBody, principal: SignedIn, request: Request, rt: Runtime
) -> Envelope[BackupCodesRead]:
    async with rt.uow(principal.scope) as uow:
        codes = await mfa.regenerate_backup_codes(
            _me(principal, request),
            body.code,
            uow=uow,
            sessions=rt.sessions,
            refusals=rt.refusals(request),
        )
    return Envelope(data=BackupCodesRead(backup_codes=codes))


@router.post("/api/auth/refresh", response_model=Envelope[TokenPair])
async def refresh(body: RefreshBody, request: Request, rt: Runtime) -> Envelope[TokenPair]:
    async with rt.uow(ALL_ORGS) as uow:
        result = await use.refresh(
            body.refresh_token,
            uow=uow,
            tokens=rt.tokens,
            sessions=rt.sessions,
            refusals=rt.refusals(request),
            ctx=event_context(request, None),
        )
    return _pair(result)


@router.post("/api/auth/logout", status_code=204)
async def logout(principal: AnyToken, request: Request, rt: Runtime) -> Response:
    api_key = (
        use.ApiKeyRef(key_id=principal.user_id, org_id=principal.org_id)
        if principal.api_key
        else None
    )
    async with rt.uow(principal.scope) as uow:
        await use.logout(
            principal.session_id,
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
            api_key=api_key,
        )
    return Response(status_code=204)


@router.get("/api/auth/sessions", response_model=Envelope[list[SessionRead]])
async def list_sessions(principal: SignedIn, rt: Runtime) -> Envelope[list[SessionRead]]:
    async with rt.uow(principal.scope) as uow:
        sessions = await use.own_sessions(principal.user_id, uow=uow)
    return Envelope(
        data=[
            SessionRead.model_validate({**asdict(s), "current": s.id == principal.session_id})
            for s in sessions
        ]
    )


@router.delete("/api/auth/sessions/{session_id}", status_code=204)
async def end_session(
    session_id: UUID, principal: SignedIn, request: Request, rt: Runtime
) -> Response:
    async with rt.uow(principal.scope) as uow:
        await use.end_own_session(
            principal.user_id,
            session_id,
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
        )
    return Response(status_code=204)


@router.post("/api/users/{user_id}/unlock", response_model=Envelope[UserRead])
async def unlock_user(
    user_id: UUID, principal: UserUpdater, request: Request, rt: Runtime
) -> Envelope[UserRead]:
    async with rt.uow(principal.scope) as uow:
        user = await users.unlock_user(
            user_id, actor_of(principal), uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=UserRead.model_validate(user))


@router.post("/api/auth/password/change", status_code=204)
async def change_password(
    body: PasswordChangeBody, principal: SignedIn, request: Request, rt: Runtime
) -> Response:
    await passwords.change_password(
        _me(principal, request),
        current=body.current_password,
        new=body.new_password,
        scope=principal.scope,
        uow_factory=rt.uow,
        hasher=rt.hasher,
        sessions=rt.sessions,
        attempts=rt.password_attempts,
        refusals=rt.refusals(request),
    )
    return Response(status_code=204)


FORGOT_ACCEPTED = Envelope[None](
    data=None, message="If an active account uses this email, a reset link has been sent"
)


@router.post("/api/auth/password/forgot", status_code=202, response_model=Envelope[None])
async def forgot_password(body: ForgotPasswordBody, request: Request, rt: Runtime) -> JSONResponse:
    """Always the same 202, whether or not the email belongs to anyone."""
    async with rt.uow(ALL_ORGS) as uow:
        await recovery.forgot_password(
            body.email, uow=uow, mails=rt.recovery_mails, ctx=event_context(request, None)
        )
    return JSONResponse(FORGOT_ACCEPTED.model_dump(mode="json", by_alias=True), status_code=202)


@router.post("/api/auth/password/reset", status_code=204)
async def reset_password(body: ResetPasswordBody, request: Request, rt: Runtime) -> Response:
    """Set a password with a reset or invitation token (accepting an invitation)."""
    await recovery.reset_password(
        body.token,
        body.new_password,
        uow_factory=rt.uow,
        hasher=rt.hasher,
        sessions=rt.sessions,
        refusals=rt.refusals(request),
        ctx=event_context(request, None),
    )
    return Response(status_code=204)


@router.post("/api/auth/email/verification", status_code=202)
async def send_email_verification(principal: SignedIn, request: Request, rt: Runtime) -> Response:
    """Extension: (re)send the caller's verification link; nothing is sent when verified."""
    async with rt.uow(principal.scope) as uow:
        await recovery.request_email_verification(
            principal.user_id, uow=uow, ctx=event_context(request, principal)
        )
    return Response(status_code=202)


@router.post("/api/auth/email/verify", status_code=204)
async def verify_email(body: VerifyEmailBody, request: Request, rt: Runtime) -> Response:
    async with rt.uow(ALL_ORGS) as uow:
        await recovery.verify_email(
            body.token,
            uow=uow,
            refusals=rt.refusals(request),
            ctx=event_context(request, None),
        )
    return Response(status_code=204)


@router.get("/api/auth/me", response_model=Envelope[MeRead])
async def me(principal: Enrolling, rt: Runtime) -> Envelope[MeRead]:
    async with rt.uow(principal.scope) as uow:
        user, org = await use.current_user(principal.user_id, uow=uow)
    return Envelope(
        data=MeRead(
            user=UserRead.model_validate(user),
            organization=OrganizationRef.model_validate(org),
            role=principal.role,
            permissions=sorted(principal.permissions),
            org_scope=OrgScopeRead(
                all_organizations=principal.scope.all_orgs,
                organization_ids=sorted(principal.scope.org_ids),
            ),
        )
    )


@router.get("/.well-known/jwks.json")
async def jwks(rt: Runtime) -> dict[str, Any]:
    """Public keys only; every key that may still have valid tokens is listed."""
    return rt.keys.jwks()
