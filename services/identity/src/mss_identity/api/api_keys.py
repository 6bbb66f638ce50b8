"""HTTP routes of API keys (API.md "API keys"): managed by super admins only."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.errors import Forbidden
from mss_contracts.permissions import Role
from mss_identity.api.routes import Deps
from mss_identity.api.schemas import (
    AccessTokenRead,
    ApiKeyCreateBody,
    ApiKeyCreated,
    ApiKeyExchangeBody,
    ApiKeyRead,
)
from mss_identity.application import api_keys
from mss_identity.domain.api_keys import ApiKey
from mss_web.envelope import Envelope

router = APIRouter(tags=["api-keys"])

# Only `*:*` holds this permission; the role check below makes it super admin only,
# whatever permissions some other token might carry.
Manager = Annotated[Principal, Depends(require("api_keys:manage"))]


def _super_admin(principal: Principal) -> Principal:
    if principal.role is not Role.SUPER_ADMIN:
        raise Forbidden("Only a super admin manages API keys")
    return principal


def _read(key: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        organization_id=key.org_id,
        name=key.name,
        prefix=key.prefix,
        permissions=list(key.permissions),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.get("/api/api-keys", response_model=Envelope[list[ApiKeyRead]])
async def list_api_keys(
    principal: Manager,
    d: Deps,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
) -> Envelope[list[ApiKeyRead]]:
    _super_admin(principal)
    return Envelope(data=[_read(k) for k in await api_keys.list_keys(org_id, d)])


@router.post("/api/api-keys", status_code=201, response_model=Envelope[ApiKeyCreated])
async def create_api_key(
    body: ApiKeyCreateBody, principal: Manager, d: Deps
) -> Envelope[ApiKeyCreated]:
    _super_admin(principal)
    created = await api_keys.create_key(
        org_id=body.organization_id,
        name=body.name,
        permissions=body.permissions,
        created_by=principal.user_id,
        deps=d,
    )
    read = _read(created.api_key)
    return Envelope(data=ApiKeyCreated(**read.model_dump(), key=created.key))


@router.delete("/api/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: UUID, principal: Manager, d: Deps) -> Response:
    _super_admin(principal)
    await api_keys.revoke_key(key_id, d)
    return Response(status_code=204)


@router.post("/api/auth/token", response_model=Envelope[AccessTokenRead])
async def exchange_api_key(body: ApiKeyExchangeBody, d: Deps) -> Envelope[AccessTokenRead]:
    """Client credentials for integrations: public, the key is the credential."""
    issued = await api_keys.exchange_key(body.api_key, d)
    return Envelope(data=AccessTokenRead(access_token=issued.token, expires_in=issued.expires_in))
