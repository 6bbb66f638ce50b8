"""HTTP routes of identity (API.md "Auth")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from mss_auth.dependencies import authenticated
from mss_auth.principal import Principal
from mss_identity.api.schemas import (
    LoginBody,
    MeRead,
    OrganizationRef,
    OrgScopeRead,
    TokenPair,
    UserRead,
)
from mss_identity.application import auth as use
from mss_service import event_context
from mss_web.envelope import Envelope

router = APIRouter(tags=["auth"])

SignedIn = Annotated[Principal, Depends(authenticated())]


def deps(request: Request) -> use.AuthDeps:
    value = request.app.state.auth_deps
    assert isinstance(value, use.AuthDeps)
    return value


Deps = Annotated[use.AuthDeps, Depends(deps)]


@router.post("/api/auth/login", response_model=Envelope[TokenPair])
async def login(body: LoginBody, request: Request, d: Deps) -> Envelope[TokenPair]:
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
    return Envelope(
        data=TokenPair(
            access_token=result.access.token,
            refresh_token=result.refresh_token,
            expires_in=result.access.expires_in,
            user=UserRead.of(result.user),
        )
    )


@router.get("/api/auth/me", response_model=Envelope[MeRead])
async def me(principal: SignedIn, d: Deps) -> Envelope[MeRead]:
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
    return d.keys.jwks()
