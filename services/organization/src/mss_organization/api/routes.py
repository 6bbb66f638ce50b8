"""HTTP routes of the organization service (API.md "Organizations")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import OrgSettings, settings_of
from mss_organization.adapters.repository import OrganizationFilter
from mss_organization.api.schemas import (
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
    SuspendBody,
)
from mss_organization.application import organizations as use
from mss_organization.domain.organization import OrganizationStatus
from mss_service import Runtime, event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params

router = APIRouter(prefix="/api/organizations", tags=["organizations"])

Reader = Annotated[Principal, Depends(require("organizations:read"))]
Creator = Annotated[Principal, Depends(require("organizations:create"))]
Updater = Annotated[Principal, Depends(require("organizations:update"))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[OrganizationRead])
async def create_organization(
    body: OrganizationCreate, request: Request, principal: Creator, rt: Runtime
) -> Envelope[OrganizationRead]:
    cmd = use.CreateOrganization(
        name=body.name,
        type=OrganizationType(body.type),
        domain=body.domain,
        sso_enabled=body.sso_enabled,
        settings=body.settings,
        created_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        org = await use.create_organization(cmd, uow=uow, ctx=event_context(request, principal))
    return Envelope(data=OrganizationRead.model_validate(org))


@router.get("", response_model=PageEnvelope[OrganizationRead])
async def list_organizations(
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Annotated[PageParams, Depends(page_params)],
    type: Annotated[OrganizationType | None, Query()] = None,
    status_: Annotated[OrganizationStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> PageEnvelope[OrganizationRead]:
    where = OrganizationFilter(type=type, status=status_, q=q)
    async with rt.uow(principal.scope) as uow:
        orgs, total = await use.list_organizations(
            where, offset=page.offset, limit=page.limit, uow=uow
        )
    record_access(request, principal, resource_type="organization", org_ids=(o.id for o in orgs))
    return PageEnvelope(
        data=[OrganizationRead.model_validate(o) for o in orgs], meta=page.meta(total)
    )


@router.get("/{id}", response_model=Envelope[OrganizationRead])
async def get_organization(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[OrganizationRead]:
    async with rt.uow(principal.scope) as uow:
        org = await use.get_organization(id, uow=uow)
    record_access(request, principal, resource_type="organization", org_ids=[id], resource_id=id)
    return Envelope(data=OrganizationRead.model_validate(org))


@router.put("/{id}", response_model=Envelope[OrganizationRead])
async def update_organization(
    id: UUID, body: OrganizationUpdate, request: Request, principal: Updater, rt: Runtime
) -> Envelope[OrganizationRead]:
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "sso_enabled"):
        if required in changes and changes[required] is None:
            del changes[required]
    cmd = use.UpdateOrganization(org_id=id, changes=changes)
    async with rt.uow(principal.scope) as uow:
        org = await use.update_organization(cmd, uow=uow, ctx=event_context(request, principal))
    return Envelope(data=OrganizationRead.model_validate(org))


@router.post("/{id}/suspend", response_model=Envelope[OrganizationRead])
async def suspend_organization(
    id: UUID, request: Request, principal: Updater, rt: Runtime, body: SuspendBody | None = None
) -> Envelope[OrganizationRead]:
    reason = body.reason if body else None
    async with rt.uow(principal.scope) as uow:
        org = await use.suspend_organization(
            id, reason, uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=OrganizationRead.model_validate(org))


@router.post("/{id}/reactivate", response_model=Envelope[OrganizationRead])
async def reactivate_organization(
    id: UUID, request: Request, principal: Updater, rt: Runtime
) -> Envelope[OrganizationRead]:
    async with rt.uow(principal.scope) as uow:
        org = await use.reactivate_organization(id, uow=uow, ctx=event_context(request, principal))
    return Envelope(data=OrganizationRead.model_validate(org))


@router.get("/{id}/settings", response_model=Envelope[OrgSettings])
async def get_settings(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[OrgSettings]:
    async with rt.uow(principal.scope) as uow:
        org = await use.get_organization(id, uow=uow)
    record_access(
        request, principal, resource_type="organization_settings", org_ids=[id], resource_id=id
    )
    return Envelope(data=settings_of(org.settings))


@router.put("/{id}/settings", response_model=Envelope[OrgSettings])
async def put_settings(
    id: UUID,
    body: OrgSettings,
    request: Request,
    principal: Updater,
    rt: Runtime,
) -> Envelope[OrgSettings]:
    cmd = use.UpdateOrganization(
        org_id=id, changes={"settings": body.model_dump(mode="json", by_alias=True)}
    )
    async with rt.uow(principal.scope) as uow:
        org = await use.update_organization(cmd, uow=uow, ctx=event_context(request, principal))
    return Envelope(data=settings_of(org.settings))
