"""HTTP routes of identity (API.md "Auth")."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mss_auth.dependencies import authenticated, require
from mss_auth.principal import Principal
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
from mss_identity.application import auth as use
from mss_identity.application import mfa, passwords, recovery, users
from mss_service import event_context
from mss_web.envelope import Envelope

router = APIRouter(tags=["auth"])

SignedIn = Annotated[Principal, Depends(authenticated())]
# Also for a user who must still enrol in MFA: enrolment itself, `me`, logout.
Enrolling = Annotated[Principal, Depends(authenticated(during_enrollment=True))]
UserUpdater = Annotated[Principal, Depends(require("users:update"))]


def deps(request: Request) -> use.AuthDeps:
    value = request.app.state.auth_deps
    assert isinstance(value, use.AuthDeps)
    return value


Deps = Annotated[use.AuthDeps, Depends(deps)]


def _login_cmd(request: Request) -> use.Login:
    """Where a second-factor completion comes from (its credentials were checked before)."""
    ctx = event_context(request, None)
    return use.Login(
        email="",
        password="",
        organization_id=None,
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent,
    )


@router.post("/api/auth/login", response_model=Envelope[TokenPair | MfaChallengeRead])
async def login(
    body: LoginBody, request: Request, d: Deps
) -> Envelope[TokenPair] | Envelope[MfaChallengeRead]:
    ctx = event_context(request, None)
    result = await use.login(
        use.Login(
            email=body.email,
            password=body.password,
            organization_id=body.organization_id,
            ip_address=ctx.ip_address,
            user_agent=ctx.user_agent,
        ),
        d,
        ctx,
    )
    if isinstance(result, use.MfaChallenge):
        return Envelope(data=MfaChallengeRead(mfa_token=result.mfa_token))
    return _pair(result)


@router.post("/api/auth/mfa/complete", response_model=Envelope[TokenPair])
async def complete_mfa(body: MfaCompleteBody, request: Request, d: Deps) -> Envelope[TokenPair]:
    return _pair(
        await use.complete_mfa(
            body.mfa_token, body.code, _login_cmd(request), d, event_context(request, None)
        )
    )


@router.post("/api/auth/mfa/setup", response_model=Envelope[MfaSetupRead])
async def mfa_setup(principal: Enrolling, d: Deps) -> Envelope[MfaSetupRead]:
    enrollment = await mfa.setup(principal.user_id, d, principal.scope)
    return Envelope(data=MfaSetupRead(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri))


@router.post("/api/auth/mfa/enable", response_model=Envelope[BackupCodesRead])
async def mfa_enable(
    body: MfaCodeBody, principal: Enrolling, request: Request, d: Deps
) -> Envelope[BackupCodesRead]:
    codes = await mfa.enable(_me(principal, request), body.code, d)
    return Envelope(data=BackupCodesRead(backup_codes=codes))


@router.post("/api/auth/mfa/disable", status_code=204)
async def mfa_disable(
    body: MfaCodeBody, principal: SignedIn, request: Request, d: Deps
) -> Response:
    await mfa.disable(_me(principal, request), body.code, d)
    return Response(status_code=204)


@router.post("/api/auth/mfa/backup-codes", response_model=Envelope[BackupCodesRead])
async def mfa_backup_codes(
    body: MfaCodeBody, principal: SignedIn, request: Request, d: Deps
) -> Envelope[BackupCodesRead]:
    codes = await mfa.regenerate_backup_codes(_me(principal, request), body.code, d)
    return Envelope(data=BackupCodesRead(backup_codes=codes))


def _me(principal: Principal, request: Request) -> use.Me:
    return use.Me(
        user_id=principal.user_id,
        session_id=principal.session_id,
        scope=principal.scope,
        ctx=event_context(request, principal),
    )


def _pair(result: use.LoginResult) -> Envelope[TokenPair]:
    return Envelope(
        data=TokenPair(
            access_token=result.access.token,
            refresh_token=result.refresh_token,
            expires_in=result.access.expires_in,
            user=UserRead.of(result.user),
        )
    )


@router.post("/api/auth/refresh", response_model=Envelope[TokenPair])
async def refresh(body: RefreshBody, request: Request, d: Deps) -> Envelope[TokenPair]:
    return _pair(await use.refresh(body.refresh_token, d, event_context(request, None)))


@router.post("/api/auth/logout", status_code=204)
async def logout(principal: Enrolling, request: Request, d: Deps) -> Response:
    await use.end_sessions(
        d,
        event_context(request, principal),
        scope=principal.scope,
        reason="logout",
        session_id=principal.session_id,
    )
    return Response(status_code=204)


@router.get("/api/auth/sessions", response_model=Envelope[list[SessionRead]])
async def list_sessions(principal: SignedIn, d: Deps) -> Envelope[list[SessionRead]]:
    sessions = await use.own_sessions(principal.user_id, d, principal.scope)
    return Envelope(
        data=[
            SessionRead(
                id=s.id,
                ip_address=s.ip_address,
                user_agent=s.user_agent,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                expires_at=s.expires_at,
                current=s.id == principal.session_id,
            )
            for s in sessions
        ]
    )


@router.delete("/api/auth/sessions/{session_id}", status_code=204)
async def end_session(session_id: UUID, principal: SignedIn, request: Request, d: Deps) -> Response:
    await use.end_own_session(
        principal.user_id, session_id, d, event_context(request, principal), principal.scope
    )
    return Response(status_code=204)


@router.post("/api/users/{user_id}/unlock", response_model=Envelope[UserRead])
async def unlock_user(
    user_id: UUID, principal: UserUpdater, request: Request, d: Deps
) -> Envelope[UserRead]:
    user = await users.unlock_user(
        user_id, uow_factory=d.uow, scope=principal.scope, ctx=event_context(request, principal)
    )
    return Envelope(data=UserRead.of(user))


@router.post("/api/auth/password/change", status_code=204)
async def change_password(
    body: PasswordChangeBody, principal: SignedIn, request: Request, d: Deps
) -> Response:
    await passwords.change_password(
        _me(principal, request), current=body.current_password, new=body.new_password, deps=d
    )
    return Response(status_code=204)


FORGOT_ACCEPTED = Envelope[None](
    data=None, message="If an active account uses this email, a reset link has been sent"
)


@router.post("/api/auth/password/forgot", status_code=202, response_model=Envelope[None])
async def forgot_password(body: ForgotPasswordBody, request: Request, d: Deps) -> JSONResponse:
    """Always the same 202, whether or not the email belongs to anyone."""
    await recovery.forgot_password(body.email, d, event_context(request, None))
    return JSONResponse(FORGOT_ACCEPTED.model_dump(mode="json", by_alias=True), status_code=202)


@router.post("/api/auth/password/reset", status_code=204)
async def reset_password(body: ResetPasswordBody, request: Request, d: Deps) -> Response:
    """Set a password with a reset or invitation token (accepting an invitation)."""
    await recovery.reset_password(body.token, body.new_password, d, event_context(request, None))
    return Response(status_code=204)


@router.post("/api/auth/email/verification", status_code=202)
async def send_email_verification(principal: SignedIn, request: Request, d: Deps) -> Response:
    """Extension: (re)send the caller's verification link; nothing is sent when verified."""
    await recovery.request_email_verification(
        principal.user_id, d, principal.scope, event_context(request, principal)
    )
    return Response(status_code=202)


@router.post("/api/auth/email/verify", status_code=204)
async def verify_email(body: VerifyEmailBody, request: Request, d: Deps) -> Response:
    await recovery.verify_email(body.token, d, event_context(request, None))
    return Response(status_code=204)


@router.get("/api/auth/me", response_model=Envelope[MeRead])
async def me(principal: Enrolling, d: Deps) -> Envelope[MeRead]:
    user, org = await use.current_user(principal.user_id, d, principal.scope)
    return Envelope(
        data=MeRead(
            user=UserRead.of(user),
            organization=OrganizationRef.of(org),
            role=principal.role,
            permissions=sorted(principal.permissions),
            org_scope=OrgScopeRead(
                all_organizations=principal.scope.all_orgs,
                organization_ids=sorted(principal.scope.org_ids),
            ),
        )
    )


@router.get("/.well-known/jwks.json")
async def jwks(d: Deps) -> dict[str, Any]:
    """Public keys only; every key that may still have valid tokens is listed."""
    return d.keys.current().jwks()
