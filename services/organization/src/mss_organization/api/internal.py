"""The organization service's internal read endpoints: what other services project.

Identity asks for an organization its directory lacks (an invitation into an organization
created a moment ago); identity, audit and the services to come ask for a technician's
grants to refresh their projection. Service tokens only; the gateway never routes
`/internal/`, and the public OpenAPI document leaves these routes out.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from mss_auth.dependencies import ServiceCaller
from mss_contracts.internal import GrantRecord, OrganizationRecord, TechnicianGrants
from mss_db import OrgScope
from mss_organization.application import organizations, technician_access
from mss_organization.domain.access import TechnicianAccess
from mss_service import Runtime
from mss_web.envelope import Envelope

router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[Depends(ServiceCaller())],
)


@router.get("/organizations/{id}", response_model=Envelope[OrganizationRecord])
async def organization_record(id: UUID, rt: Runtime) -> Envelope[OrganizationRecord]:
    """What organization.* events carry, and the version; 404 if unknown."""
    async with rt.uow(OrgScope.everything()) as uow:
        org = await organizations.get_organization(id, uow=uow)
    return Envelope(data=organizations.organization_record(org))


@router.get("/technicians/{id}/grants", response_model=Envelope[TechnicianGrants])
async def technician_grants(id: UUID, rt: Runtime) -> Envelope[TechnicianGrants]:
    """Every grant of the technician with its stored status and version; a technician
    without grants has an empty list (this service owns grants, not users)."""
    async with rt.uow(OrgScope.everything()) as uow:
        grants = await technician_access.grants_of(id, uow=uow)
    return Envelope(data=TechnicianGrants(technician_id=id, grants=[_record(g) for g in grants]))


def _record(grant: TechnicianAccess) -> GrantRecord:
    return GrantRecord(
        id=grant.id,
        organization_id=grant.org_id,
        technician_id=grant.technician_id,
        status=grant.status,
        version=grant.version,
        expires_at=grant.expires_at,
        allowed_services=list(grant.allowed_services),
        ip_restrictions=list(grant.ip_restrictions),
        time_restrictions=grant.time_restrictions,
    )
