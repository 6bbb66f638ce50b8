"""HTTP route of the dashboard (API.md "Domain resources → Dashboard")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.api import ApiModel
from mss_security.application import dashboard as use
from mss_security.domain.errors import OrganizationNotFound
from mss_service import Runtime, record_access
from mss_web.envelope import Envelope

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])

Reader = Annotated[Principal, Depends(require("dashboard:read"))]


class ScopeRead(ApiModel):
    organization_ids: int


class SeverityCounts(ApiModel):
    critical: int
    high: int
    medium: int
    low: int


class AlertStatusCounts(ApiModel):
    open: int
    acknowledged: int
    resolved: int


class AlertBoardRead(ApiModel):
    open: SeverityCounts
    by_status: AlertStatusCounts
    last24h: int
    mtta_seconds: float | None
    mttr_seconds: float | None


class InterventionBoardRead(ApiModel):
    open: int
    by_status: dict[str, int]
    sla_breached: int
    sla_at_risk: int


class ActivityRead(ApiModel):
    type: str
    title: str
    resource_type: str
    resource_id: UUID
    organization_id: UUID
    at: datetime


class DashboardRead(ApiModel):
    scope: ScopeRead
    alerts: AlertBoardRead
    interventions: InterventionBoardRead
    recent: list[ActivityRead]


@router.get("", response_model=Envelope[DashboardRead])
async def get_dashboard(
    principal: Reader,
    request: Request,
    rt: Runtime,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
) -> Envelope[DashboardRead]:
    if org_id is not None and not principal.scope.allows(org_id):
        raise OrganizationNotFound()
    async with rt.uow(principal.scope) as uow:
        board = await use.dashboard(org_id, uow=uow)
    shown = {a.organization_id for a in board.recent} | ({org_id} if org_id else set())
    record_access(request, principal, resource_type="dashboard", org_ids=shown)
    return Envelope(
        data=DashboardRead(
            scope=ScopeRead(organization_ids=board.organizations),
            alerts=AlertBoardRead(
                open=SeverityCounts(**board.alerts.open_by_severity),
                by_status=AlertStatusCounts(**board.alerts.by_status),
                last24h=board.alerts.last24h,
                mtta_seconds=board.alerts.mtta_seconds,
                mttr_seconds=board.alerts.mttr_seconds,
            ),
            interventions=InterventionBoardRead(
                open=board.interventions.open,
                by_status=board.interventions.by_status,
                sla_breached=board.interventions.sla_breached,
                sla_at_risk=board.interventions.sla_at_risk,
            ),
            recent=[ActivityRead.model_validate(a) for a in board.recent],
        )
    )
