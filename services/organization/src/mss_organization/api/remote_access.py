"""HTTP routes of remote access sessions (API.md "Remote access")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_organization.adapters.access import SessionFilter
from mss_organization.api.schemas import (
    EndSessionBody,
    RemoteAccessSessionCreate,
    RemoteAccessSessionRead,
)
from mss_organization.application import remote_access as use
from mss_organization.domain.access import SessionStatus
from mss_service import Runtime, event_context
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params

router = APIRouter(prefix="/api/remote-access-sessions", tags=["remote access"])

Page = Annotated[PageParams, Depends(page_params)]
Technician = Annotated[Principal, Depends(require("remote_access:create"))]
SessionReader = Annotated[Principal, Depends(require("remote_access:create", "audit:read"))]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Envelope[RemoteAccessSessionRead]
)
async def start_remote_access(
    body: RemoteAccessSessionCreate, request: Request, principal: Technician, rt: Runtime
) -> Envelope[RemoteAccessSessionRead]:
    """Only inside one of the caller's grants that admits this service, address and time."""
    cmd = use.StartRemoteAccess(
        org_id=body.organization_id,
        technician_id=principal.user_id,
        service=body.service,
        justification=body.justification,
        intervention_id=body.intervention_id,
        client_ip=principal.ip_address,
    )
    # The caller's grants on that one organization are read whether or not they admit it
    # now (the refusal then says why); the use case filters on the caller's own id.
    async with rt.uow(OrgScope.of([body.organization_id])) as uow:
        session = await use.start_remote_access(cmd, uow=uow, ctx=event_context(request, principal))
    return Envelope(data=RemoteAccessSessionRead.model_validate(session))


@router.get("", response_model=PageEnvelope[RemoteAccessSessionRead])
async def list_remote_sessions(
    principal: SessionReader,
    rt: Runtime,
    page: Page,
    org_id: Annotated[UUID | None, Query(alias="organizationId")] = None,
    technician_id: Annotated[UUID | None, Query(alias="technicianId")] = None,
    status_: Annotated[SessionStatus | None, Query(alias="status")] = None,
) -> PageEnvelope[RemoteAccessSessionRead]:
    """Auditors (audit:read) see the sessions of their scope; a technician its own."""
    scope = principal.scope
    if not principal.can("audit:read"):
        if technician_id is not None and technician_id != principal.user_id:
            return PageEnvelope(data=[], meta=page.meta(0))
        technician_id, scope = principal.user_id, OrgScope.everything()
    where = SessionFilter(org_id=org_id, technician_id=technician_id, status=status_)
    async with rt.uow(scope) as uow:
        sessions, total = await use.list_remote_sessions(
            where, offset=page.offset, limit=page.limit, uow=uow
        )
    return PageEnvelope(
        data=[RemoteAccessSessionRead.model_validate(s) for s in sessions], meta=page.meta(total)
    )


@router.post("/{id}/end", response_model=Envelope[RemoteAccessSessionRead])
async def end_remote_access(
    id: UUID,
    request: Request,
    principal: Technician,
    rt: Runtime,
    body: EndSessionBody | None = None,
) -> Envelope[RemoteAccessSessionRead]:
    """The session's technician ends it; a super admin may end anyone's."""
    async with rt.uow(OrgScope.everything()) as uow:
        session = await use.end_remote_access(
            id,
            by=principal.user_id,
            may_end_any=principal.role is Role.SUPER_ADMIN,
            reason=body.reason if body else None,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=RemoteAccessSessionRead.model_validate(session))
