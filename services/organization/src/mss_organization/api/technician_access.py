"""HTTP routes of technician access grants (API.md "Technician access")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.access import GrantStatus, GrantTerms
from mss_db import OrgScope
from mss_organization.adapters.access import GrantFilter
from mss_organization.api.schemas import RevokeBody, TechnicianAccessCreate, TechnicianAccessRead
from mss_organization.application import technician_access as use
from mss_service import Runtime, event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params

router = APIRouter(tags=["technician access"])

Page = Annotated[PageParams, Depends(page_params)]
OrgReader = Annotated[Principal, Depends(require("organizations:read"))]
OrgUpdater = Annotated[Principal, Depends(require("organizations:update"))]
AccessReader = Annotated[Principal, Depends(require("customer_access:read"))]


@router.post(
    "/api/organizations/{id}/technician-access",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TechnicianAccessRead],
)
async def grant_technician_access(
    id: UUID, body: TechnicianAccessCreate, request: Request, principal: OrgUpdater, rt: Runtime
) -> Envelope[TechnicianAccessRead]:
    cmd = use.GrantTechnicianAccess(
        org_id=id,
        technician_id=body.technician_id,
        access_level=body.access_level,
        terms=GrantTerms(
            expires_at=body.expires_at,
            allowed_services=body.allowed_services,
            ip_restrictions=body.ip_restrictions,
            time_restrictions=body.time_restrictions,
        ),
        notes=body.notes,
        granted_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        grant = await use.grant_technician_access(
            cmd, uow=uow, ctx=event_context(request, principal)
        )
    return Envelope(data=TechnicianAccessRead.model_validate(grant))


@router.get(
    "/api/organizations/{id}/technician-access",
    response_model=PageEnvelope[TechnicianAccessRead],
)
async def list_organization_grants(
    id: UUID,
    principal: OrgReader,
    request: Request,
    rt: Runtime,
    page: Page,
    technician_id: Annotated[UUID | None, Query(alias="technicianId")] = None,
    status_: Annotated[GrantStatus | None, Query(alias="status")] = None,
) -> PageEnvelope[TechnicianAccessRead]:
    now = datetime.now(UTC)
    where = GrantFilter(org_id=id, technician_id=technician_id, status=status_)
    async with rt.uow(principal.scope) as uow:
        grants, total = await use.list_organization_grants(
            id, where, now=now, offset=page.offset, limit=page.limit, uow=uow
        )
    record_access(request, principal, resource_type="technician_access", org_ids=[id])
    return PageEnvelope(
        data=[TechnicianAccessRead.model_validate(g, context={"now": now}) for g in grants],
        meta=page.meta(total),
    )


@router.get("/api/technician-access", response_model=PageEnvelope[TechnicianAccessRead])
async def list_grants(
    principal: AccessReader,
    rt: Runtime,
    page: Page,
    technician_id: Annotated[UUID | None, Query(alias="technicianId")] = None,
    status_: Annotated[GrantStatus | None, Query(alias="status")] = None,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
) -> PageEnvelope[TechnicianAccessRead]:
    """Provider staff who read organizations see every grant in scope; a technician its own."""
    now = datetime.now(UTC)
    scope = principal.scope
    if not principal.can("organizations:read"):
        if technician_id is not None and technician_id != principal.user_id:
            return PageEnvelope(data=[], meta=page.meta(0))
        # Its own grants, whichever organization they open and whether or not they admit
        # it right now (the scope widened by grants holds only the admitting ones).
        technician_id, scope = principal.user_id, OrgScope.everything()
    where = GrantFilter(org_id=org_id, technician_id=technician_id, status=status_)
    async with rt.uow(scope) as uow:
        grants, total = await use.list_grants(
            where, now=now, offset=page.offset, limit=page.limit, uow=uow
        )
    return PageEnvelope(
        data=[TechnicianAccessRead.model_validate(g, context={"now": now}) for g in grants],
        meta=page.meta(total),
    )


@router.post("/api/technician-access/{id}/revoke", response_model=Envelope[TechnicianAccessRead])
async def revoke_technician_access(
    id: UUID, body: RevokeBody, request: Request, principal: OrgUpdater, rt: Runtime
) -> Envelope[TechnicianAccessRead]:
    async with rt.uow(principal.scope) as uow:
        grant = await use.revoke_technician_access(
            id,
            by=principal.user_id,
            reason=body.reason,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=TechnicianAccessRead.model_validate(grant))
