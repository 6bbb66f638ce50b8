"""HTTP routes of the Users API (API.md "Users"): `users:*` permissions, scoped to tenants."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from mss_auth.dependencies import authenticated, require
from mss_auth.principal import Principal
from mss_contracts.permissions import Role
from mss_identity.adapters.repository import UserFilter
from mss_identity.api.runtime import Runtime
from mss_identity.api.schemas import (
    RevokedRead,
    UserCreateBody,
    UserCreateFields,
    UserRead,
    UserUpdateBody,
)
from mss_identity.application import users
from mss_identity.domain.users import User, UserStatus
from mss_service import event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params

router = APIRouter(tags=["users"])

Reader = Annotated[Principal, Depends(require("users:read"))]
Creator = Annotated[Principal, Depends(require("users:create"))]
Updater = Annotated[Principal, Depends(require("users:update"))]
Deleter = Annotated[Principal, Depends(require("users:delete"))]
# `PUT /api/users/{id}`: `users:update`, or any signed-in user for its own names (the use
# case holds the field rules).
Editor = Annotated[Principal, Depends(authenticated())]
Page = Annotated[PageParams, Depends(page_params)]
RoleQuery = Annotated[Role | None, Query()]
StatusQuery = Annotated[UserStatus | None, Query(alias="status")]
SearchQuery = Annotated[str | None, Query(max_length=100)]


def actor_of(principal: Principal) -> users.Actor:
    """Who calls the Users API, as its use cases see them."""
    return users.Actor(
        user_id=principal.user_id,
        org_id=principal.org_id,
        permissions=principal.permissions,
        role=principal.role,
        scope=principal.scope,
    )


def _page(
    found: tuple[list[User], int], page: PageParams, request: Request, principal: Principal
) -> PageEnvelope[UserRead]:
    rows, total = found
    record_access(request, principal, resource_type="user", org_ids=(u.org_id for u in rows))
    return PageEnvelope(data=[UserRead.model_validate(u) for u in rows], meta=page.meta(total))


def _new_user(body: UserCreateFields, organization_id: UUID | None) -> users.NewUser:
    return users.NewUser(
        organization_id=organization_id,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        role=body.role,
    )


@router.get("/api/users", response_model=PageEnvelope[UserRead])
async def list_users(
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Page,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    role: RoleQuery = None,
    status_: StatusQuery = None,
    q: SearchQuery = None,
) -> PageEnvelope[UserRead]:
    where = UserFilter(scope=principal.scope, org_id=org_id, role=role, status=status_, q=q)
    async with rt.uow(principal.scope) as uow:
        found = await users.list_users(where, offset=page.offset, limit=page.limit, uow=uow)
    return _page(found, page, request, principal)


@router.post("/api/users", status_code=201, response_model=Envelope[UserRead])
async def create_user(
    body: UserCreateBody, principal: Creator, request: Request, rt: Runtime
) -> Envelope[UserRead]:
    async with rt.uow(principal.scope) as uow:
        user = await users.create_user(
            _new_user(body, body.organization_id),
            actor_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=UserRead.model_validate(user))


@router.get("/api/organizations/{org_id}/users", response_model=PageEnvelope[UserRead])
async def list_org_users(
    org_id: UUID,
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Page,
    role: RoleQuery = None,
    status_: StatusQuery = None,
    q: SearchQuery = None,
) -> PageEnvelope[UserRead]:
    where = UserFilter(scope=principal.scope, org_id=org_id, role=role, status=status_, q=q)
    async with rt.uow(principal.scope) as uow:
        found = await users.list_org_users(
            org_id, where, offset=page.offset, limit=page.limit, uow=uow
        )
    return _page(found, page, request, principal)


@router.post(
    "/api/organizations/{org_id}/users", status_code=201, response_model=Envelope[UserRead]
)
async def create_org_user(
    org_id: UUID, body: UserCreateFields, principal: Creator, request: Request, rt: Runtime
) -> Envelope[UserRead]:
    async with rt.uow(principal.scope) as uow:
        user = await users.create_user(
            _new_user(body, org_id),
            actor_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=UserRead.model_validate(user))


@router.get("/api/users/{user_id}", response_model=Envelope[UserRead])
async def get_user(
    user_id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[UserRead]:
    async with rt.uow(principal.scope) as uow:
        user = await users.get_user(user_id, scope=principal.scope, uow=uow)
    record_access(
        request, principal, resource_type="user", org_ids=[user.org_id], resource_id=user.id
    )
    return Envelope(data=UserRead.model_validate(user))


@router.put("/api/users/{user_id}", response_model=Envelope[UserRead])
async def update_user(
    user_id: UUID, body: UserUpdateBody, principal: Editor, request: Request, rt: Runtime
) -> Envelope[UserRead]:
    changes = users.UserChanges(
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        role=body.role,
        status=UserStatus(body.status) if body.status is not None else None,
    )
    async with rt.uow(principal.scope) as uow:
        user = await users.update_user(
            user_id,
            changes,
            actor_of(principal),
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
        )
    return Envelope(data=UserRead.model_validate(user))


@router.delete("/api/users/{user_id}", status_code=204)
async def delete_user(user_id: UUID, principal: Deleter, request: Request, rt: Runtime) -> Response:
    async with rt.uow(principal.scope) as uow:
        await users.delete_user(
            user_id,
            actor_of(principal),
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
        )
    return Response(status_code=204)


@router.post("/api/users/{user_id}/reset-password", status_code=202, response_model=Envelope[None])
async def reset_user_password(
    user_id: UUID, principal: Updater, request: Request, rt: Runtime
) -> Envelope[None]:
    async with rt.uow(principal.scope) as uow:
        await users.admin_reset_password(
            user_id, actor_of(principal), uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=None, message="A password reset link has been sent to the user")


@router.post("/api/users/{user_id}/revoke-sessions", response_model=Envelope[RevokedRead])
async def revoke_user_sessions(
    user_id: UUID, principal: Updater, request: Request, rt: Runtime
) -> Envelope[RevokedRead]:
    async with rt.uow(principal.scope) as uow:
        revoked = await users.revoke_user_sessions(
            user_id,
            actor_of(principal),
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
        )
    return Envelope(data=RevokedRead(revoked=revoked))
