"""HTTP routes of API keys (API.md "API keys"): managed by super admins only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.errors import Forbidden
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_identity.api.runtime import Runtime
from mss_identity.api.schemas import (
    AccessTokenRead,
    ApiKeyCreateBody,
    ApiKeyCreated,
    ApiKeyExchangeBody,
    ApiKeyRead,
)
from mss_identity.application import api_keys
from mss_service import event_context
from mss_web.envelope import Envelope

router = APIRouter(tags=["api-keys"])

# Only `*:*` holds this permission; the role check below makes it super admin only,
# whatever permissions some other token might carry.
Manager = Annotated[Principal, Depends(require("api_keys:manage"))]


def _super_admin(principal: Principal) -> Principal:
    if principal.role is not Role.SUPER_ADMIN:
        raise Forbidden("Only a super admin manages API keys")
    return principal


@router.get("/api/api-keys", response_model=Envelope[list[ApiKeyRead]])
async def list_api_keys(
    principal: Manager,
    rt: Runtime,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
) -> Envelope[list[ApiKeyRead]]:
    _super_admin(principal)
    async with rt.uow(OrgScope.everything()) as uow:
        keys = await api_keys.list_keys(org_id, uow=uow)
    return Envelope(data=[ApiKeyRead.model_validate(k) for k in keys])


@router.post("/api/api-keys", status_code=201, response_model=Envelope[ApiKeyCreated])
async def create_api_key(
    body: ApiKeyCreateBody, principal: Manager, request: Request, rt: Runtime
) -> Envelope[ApiKeyCreated]:
    _super_admin(principal)
    async with rt.uow(OrgScope.everything()) as uow:
        created = await api_keys.create_key(
            org_id=body.organization_id,
            name=body.name,
            permissions=body.permissions,
            created_by=principal.user_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(
        data=ApiKeyCreated.model_validate({**asdict(created.api_key), "key": created.key})
    )


@router.delete("/api/api-keys/{key_id}", status_code=204)
async def revoke_api_key(
    key_id: UUID, principal: Manager, request: Request, rt: Runtime
) -> Response:
    _super_admin(principal)
    async with rt.uow(OrgScope.everything()) as uow:
        await api_keys.revoke_key(
            key_id,
            revoked_by=principal.user_id,
            uow=uow,
            sessions=rt.sessions,
            ctx=event_context(request, principal),
        )
    return Response(status_code=204)


@router.post("/api/auth/token", response_model=Envelope[AccessTokenRead])
async def exchange_api_key(
    body: ApiKeyExchangeBody, request: Request, rt: Runtime
) -> Envelope[AccessTokenRead]:
    """Client credentials for integrations: public, the key is the credential."""
    async with rt.uow(OrgScope.everything()) as uow:
        issued = await api_keys.exchange_key(
            body.api_key,
            uow=uow,
            tokens=rt.tokens,
            sessions=rt.sessions,
            uses=rt.key_uses,
            refusals=rt.refusals(request),
            ctx=event_context(request, None),
        )
    return Envelope(data=AccessTokenRead(access_token=issued.token, expires_in=issued.expires_in))
