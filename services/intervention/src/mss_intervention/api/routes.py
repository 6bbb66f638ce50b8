"""HTTP routes of interventions (API.md "Domain resources → Interventions")."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.errors import NotFound, ValidationFailed
from mss_contracts.interventions import InterventionType, Priority
from mss_contracts.permissions import OrganizationType
from mss_intervention.adapters.repository import InterventionFilter
from mss_intervention.api.schemas import (
    AssignBody,
    CancelBody,
    CompleteBody,
    InterventionCreate,
    InterventionRead,
    InterventionUpdate,
    OrganizationBillingRead,
    ScheduleBody,
    WorkLogBody,
)
from mss_intervention.application import billing
from mss_intervention.application import interventions as use
from mss_intervention.domain.intervention import Intervention
from mss_intervention.domain.workflow import Status
from mss_service import Runtime, event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params
from mss_web.versions import IfMatch, expected_version

router = APIRouter(prefix="/api/interventions", tags=["interventions"])

Reader = Annotated[Principal, Depends(require("interventions:read"))]
Creator = Annotated[Principal, Depends(require("interventions:create"))]
Assigner = Annotated[Principal, Depends(require("interventions:assign"))]
Updater = Annotated[Principal, Depends(require("interventions:update"))]
# Cancel and edit: the requesting organization's creators, or the provider's assigners.
CreatorOrAssigner = Annotated[
    Principal, Depends(require("interventions:create", "interventions:assign"))
]
BillingReader = Annotated[Principal, Depends(require("billing:read"))]
Page = Annotated[PageParams, Depends(page_params)]

RESOURCE = "intervention"


class BillingFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def caller_of(principal: Principal) -> use.Caller:
    return use.Caller(
        user_id=principal.user_id,
        org_id=principal.org_id,
        can_create=principal.can("interventions:create"),
        can_assign=principal.can("interventions:assign"),
        can_update=principal.can("interventions:update"),
    )


def read(item: Intervention) -> Envelope[InterventionRead]:
    return Envelope(data=InterventionRead.model_validate(item))


def _journal(request: Request, principal: Principal, item: Intervention) -> None:
    record_access(
        request, principal, resource_type=RESOURCE, org_ids=[item.org_id], resource_id=item.id
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[InterventionRead])
async def request_intervention(
    body: InterventionCreate, request: Request, principal: Creator, rt: Runtime
) -> Envelope[InterventionRead]:
    if principal.org_type is OrganizationType.CUSTOMER:
        # Customers ask for their own organization only.
        if body.organization_id not in (None, principal.org_id):
            raise ValidationFailed(details={"organizationId": "must be your own organization"})
        org_id = principal.org_id
    elif body.organization_id is None:
        raise ValidationFailed(details={"organizationId": "required for provider staff"})
    else:
        org_id = body.organization_id
    cmd = use.RequestIntervention(
        org_id=org_id,
        title=body.title,
        description=body.description,
        priority=body.priority,
        type=body.type,
        requested_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        item = await use.request_intervention(cmd, uow=uow, ctx=event_context(request, principal))
    return read(item)


@router.get("", response_model=PageEnvelope[InterventionRead])
async def list_interventions(
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Page,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    type_: Annotated[InterventionType | None, Query(alias="type")] = None,
    assigned_to: Annotated[UUID | None, Query(alias="assignedTo")] = None,
) -> PageEnvelope[InterventionRead]:
    where = InterventionFilter(
        org_id=org_id, status=status_, priority=priority, type=type_, assigned_to=assigned_to
    )
    async with rt.uow(principal.scope) as uow:
        items, total = await use.list_interventions(
            where, offset=page.offset, limit=page.limit, uow=uow
        )
    record_access(request, principal, resource_type=RESOURCE, org_ids=(i.org_id for i in items))
    now = datetime.now(UTC)
    return PageEnvelope(
        data=[InterventionRead.model_validate(i, context={"now": now}) for i in items],
        meta=page.meta(total),
    )


@router.get("/billing", response_model=Envelope[list[OrganizationBillingRead]])
async def billing_report(
    principal: BillingReader,
    request: Request,
    rt: Runtime,
    start: Annotated[datetime, Query(alias="from")],
    end: Annotated[datetime, Query(alias="to")],
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    format: Annotated[BillingFormat, Query()] = BillingFormat.JSON,
) -> Envelope[list[OrganizationBillingRead]] | Response:
    """Billable hours per organization over work-log entries whose `at` is in [from, to)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        raise ValidationFailed(details={"to": "must be after from"})
    if org_id is not None and not principal.scope.allows(org_id):
        raise NotFound()
    async with rt.uow(principal.scope) as uow:
        entries = await billing.billable_entries(org_id=org_id, start=start, end=end, uow=uow)
    record_access(request, principal, resource_type="billing", org_ids=(e.org_id for e in entries))
    if format is BillingFormat.CSV:
        return Response(
            billing.as_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="billing.csv"'},
        )
    return Envelope(
        data=[
            OrganizationBillingRead.model_validate(row) for row in billing.per_organization(entries)
        ]
    )


@router.get("/{id}", response_model=Envelope[InterventionRead])
async def get_intervention(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.get_intervention(id, uow=uow)
    _journal(request, principal, item)
    return read(item)


@router.put("/{id}", response_model=Envelope[InterventionRead])
async def update_intervention(
    id: UUID,
    body: InterventionUpdate,
    request: Request,
    principal: CreatorOrAssigner,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.update_intervention(
            id,
            title=body.title,
            description=body.description,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post("/{id}/approve", response_model=Envelope[InterventionRead])
async def approve_intervention(
    id: UUID, request: Request, principal: Assigner, rt: Runtime, if_match: IfMatch = None
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.approve_intervention(
            id,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post("/{id}/assign", response_model=Envelope[InterventionRead])
async def assign_intervention(
    id: UUID,
    body: AssignBody,
    request: Request,
    principal: Assigner,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.assign_intervention(
            id,
            body.technician_id,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post("/{id}/schedule", response_model=Envelope[InterventionRead])
async def schedule_intervention(
    id: UUID,
    body: ScheduleBody,
    request: Request,
    principal: Assigner,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.schedule_intervention(
            id,
            scheduled_for=body.scheduled_for,
            estimated_hours=body.estimated_hours,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post("/{id}/start", response_model=Envelope[InterventionRead])
async def start_intervention(
    id: UUID, request: Request, principal: Updater, rt: Runtime, if_match: IfMatch = None
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.start_intervention(
            id,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post(
    "/{id}/work-log", status_code=status.HTTP_201_CREATED, response_model=Envelope[InterventionRead]
)
async def log_work(
    id: UUID, body: WorkLogBody, request: Request, principal: Updater, rt: Runtime
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.log_work(
            id,
            hours=body.hours,
            note=body.note,
            at=body.at,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return read(item)


@router.post("/{id}/complete", response_model=Envelope[InterventionRead])
async def complete_intervention(
    id: UUID,
    body: CompleteBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.complete_intervention(
            id,
            summary=body.summary,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


@router.post("/{id}/cancel", response_model=Envelope[InterventionRead])
async def cancel_intervention(
    id: UUID,
    body: CancelBody,
    request: Request,
    principal: CreatorOrAssigner,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[InterventionRead]:
    async with rt.uow(principal.scope) as uow:
        item = await use.cancel_intervention(
            id,
            reason=body.reason,
            caller=caller_of(principal),
            uow=uow,
            ctx=event_context(request, principal),
            if_match=expected_version(if_match, "intervention"),
        )
    return read(item)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
