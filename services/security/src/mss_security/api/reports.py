"""HTTP routes of the reports (API.md "Domain resources → Reports")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from pydantic import Field, model_validator

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.api import ApiInput, ApiModel
from mss_contracts.permissions import OrganizationType
from mss_security.adapters.rendering import RENDERER
from mss_security.adapters.reports import ReportQuery
from mss_security.application import reports as use
from mss_security.domain.alerts import Severity
from mss_security.domain.reports import (
    FINDING_ALERTS_MAX,
    FINDING_TEXT_MAX,
    FINDINGS_MAX,
    REASON_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    Finding,
    Period,
    Report,
    ReportStatus,
    ReportType,
)
from mss_service import Runtime, event_context, record_access
from mss_web.envelope import Envelope, PageEnvelope, PageParams, page_params
from mss_web.versions import IfMatch, expected_version

router = APIRouter(prefix="/api/reports", tags=["reports"])

Reader = Annotated[Principal, Depends(require("reports:read"))]
Creator = Annotated[Principal, Depends(require("reports:create"))]
Updater = Annotated[Principal, Depends(require("reports:update"))]
Page = Annotated[PageParams, Depends(page_params)]

RESOURCE = "report"
PERIOD_MAX_DAYS = 366


class FindingIn(ApiInput):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    severity: Severity
    description: str = Field(max_length=FINDING_TEXT_MAX)
    recommendation: str = Field(max_length=FINDING_TEXT_MAX)
    alert_ids: list[UUID] = Field(default_factory=list, max_length=FINDING_ALERTS_MAX)

    def to_finding(self) -> Finding:
        return Finding(
            title=self.title,
            severity=self.severity.value,
            description=self.description,
            recommendation=self.recommendation,
            alert_ids=tuple(self.alert_ids),
        )


def _check_period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None:
        if end < start:
            raise ValueError("reportPeriodEnd must not be before reportPeriodStart")
        if (end - start).days >= PERIOD_MAX_DAYS:
            raise ValueError(f"a report covers at most {PERIOD_MAX_DAYS} days")


class ReportCreate(ApiInput):
    organization_id: UUID
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    type: ReportType
    report_period_start: date
    report_period_end: date
    summary: str = Field(default="", max_length=SUMMARY_MAX)
    findings: list[FindingIn] = Field(default_factory=list, max_length=FINDINGS_MAX)

    @model_validator(mode="after")
    def _period(self) -> ReportCreate:
        _check_period(self.report_period_start, self.report_period_end)
        return self


class ReportUpdate(ApiInput):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    type: ReportType | None = None
    report_period_start: date | None = None
    report_period_end: date | None = None
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX)
    findings: list[FindingIn] | None = Field(default=None, max_length=FINDINGS_MAX)

    @model_validator(mode="after")
    def _period(self) -> ReportUpdate:
        _check_period(self.report_period_start, self.report_period_end)
        return self


class RejectBody(ApiInput):
    reason: str = Field(min_length=1, max_length=REASON_MAX)


class FindingRead(ApiModel):
    title: str
    severity: str
    description: str
    recommendation: str
    alert_ids: list[UUID]


class ReportRead(ApiModel):
    id: UUID
    organization_id: UUID
    title: str
    type: ReportType
    status: ReportStatus
    generated_by: UUID
    summary: str
    findings: list[FindingRead]
    metrics: dict[str, Any]
    report_period_start: date
    report_period_end: date
    submitted_at: datetime | None
    approved_by: UUID | None
    approved_at: datetime | None
    published_at: datetime | None
    rejection_reason: str | None
    content_sha256: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, report: Report) -> ReportRead:
        return cls(
            id=report.id,
            organization_id=report.org_id,
            title=report.title,
            type=report.type,
            status=report.status,
            generated_by=report.generated_by,
            summary=report.summary,
            findings=[
                FindingRead(
                    title=f.title,
                    severity=f.severity,
                    description=f.description,
                    recommendation=f.recommendation,
                    alert_ids=list(f.alert_ids),
                )
                for f in report.findings
            ],
            metrics=report.metrics,
            report_period_start=report.period.start,
            report_period_end=report.period.end,
            submitted_at=report.submitted_at,
            approved_by=report.approved_by,
            approved_at=report.approved_at,
            published_at=report.published_at,
            rejection_reason=report.rejection_reason,
            content_sha256=report.content_sha256,
            version=report.version,
            created_at=report.created_at,
            updated_at=report.updated_at,
        )


def _customer(principal: Principal) -> bool:
    return principal.org_type is OrganizationType.CUSTOMER


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[ReportRead])
async def create_report(
    body: ReportCreate, request: Request, principal: Creator, rt: Runtime
) -> Envelope[ReportRead]:
    cmd = use.CreateReport(
        org_id=body.organization_id,
        title=body.title,
        type=body.type,
        period=Period(start=body.report_period_start, end=body.report_period_end),
        summary=body.summary,
        findings=tuple(f.to_finding() for f in body.findings),
        generated_by=principal.user_id,
    )
    async with rt.uow(principal.scope) as uow:
        report = await use.create_report(cmd, uow=uow, ctx=event_context(request, principal))
    RENDERER.warm()
    return Envelope(data=ReportRead.of(report))


@router.get("", response_model=PageEnvelope[ReportRead])
async def list_reports(
    principal: Reader,
    request: Request,
    rt: Runtime,
    page: Page,
    org_id: Annotated[UUID | None, Query(alias="orgId")] = None,
    status_: Annotated[ReportStatus | None, Query(alias="status")] = None,
    type_: Annotated[ReportType | None, Query(alias="type")] = None,
) -> PageEnvelope[ReportRead]:
    where = ReportQuery(
        org_id=org_id, status=status_, type=type_, published_only=_customer(principal)
    )
    async with rt.uow(principal.scope) as uow:
        reports, total = await use.list_reports(
            where, offset=page.offset, limit=page.limit, uow=uow
        )
    record_access(request, principal, resource_type=RESOURCE, org_ids={r.org_id for r in reports})
    return PageEnvelope(data=[ReportRead.of(r) for r in reports], meta=page.meta(total))


@router.get("/{id}", response_model=Envelope[ReportRead])
async def get_report(
    id: UUID, principal: Reader, request: Request, rt: Runtime
) -> Envelope[ReportRead]:
    async with rt.uow(principal.scope) as uow:
        report = await use.get_report(id, customer=_customer(principal), uow=uow)
    record_access(
        request, principal, resource_type=RESOURCE, org_ids=[report.org_id], resource_id=id
    )
    return Envelope(data=ReportRead.of(report))


@router.put("/{id}", response_model=Envelope[ReportRead])
async def update_report(
    id: UUID,
    body: ReportUpdate,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[ReportRead]:
    # A field sent as null is left as it is: every one of these is required on a report.
    changes: dict[str, Any] = {
        k: getattr(body, k) for k in body.model_fields_set if getattr(body, k) is not None
    }
    if "findings" in changes:
        changes["findings"] = tuple(f.to_finding() for f in changes["findings"])
    async with rt.uow(principal.scope) as uow:
        report = await use.update_report(
            id,
            changes,
            expected_version=expected_version(if_match, "report"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReportRead.of(report))


@router.post("/{id}/submit", response_model=Envelope[ReportRead])
async def submit_report(
    id: UUID, request: Request, principal: Updater, rt: Runtime, if_match: IfMatch = None
) -> Envelope[ReportRead]:
    async with rt.uow(principal.scope) as uow:
        report = await use.submit_report(
            id,
            expected_version=expected_version(if_match, "report"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReportRead.of(report))


@router.post("/{id}/approve", response_model=Envelope[ReportRead])
async def approve_report(
    id: UUID, request: Request, principal: Updater, rt: Runtime, if_match: IfMatch = None
) -> Envelope[ReportRead]:
    async with rt.uow(principal.scope) as uow:
        report = await use.approve_report(
            id,
            by=principal.user_id,
            expected_version=expected_version(if_match, "report"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReportRead.of(report))


@router.post("/{id}/reject", response_model=Envelope[ReportRead])
async def reject_report(
    id: UUID,
    body: RejectBody,
    request: Request,
    principal: Updater,
    rt: Runtime,
    if_match: IfMatch = None,
) -> Envelope[ReportRead]:
    async with rt.uow(principal.scope) as uow:
        report = await use.reject_report(
            id,
            body.reason,
            by=principal.user_id,
            expected_version=expected_version(if_match, "report"),
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReportRead.of(report))


@router.post("/{id}/publish", response_model=Envelope[ReportRead])
async def publish_report(
    id: UUID, request: Request, principal: Updater, rt: Runtime, if_match: IfMatch = None
) -> Envelope[ReportRead]:
    async with rt.uow(principal.scope) as uow:
        report = await use.publish_report(
            id,
            expected_version=expected_version(if_match, "report"),
            render=RENDERER.render,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReportRead.of(report))


@router.get(
    "/{id}/download",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The report's PDF"}},
)
async def download_report(id: UUID, request: Request, principal: Reader, rt: Runtime) -> Response:
    async with rt.uow(principal.scope) as uow:
        download = await use.download_report(
            id,
            customer=_customer(principal),
            render=RENDERER.render,
            uow=uow,
            ctx=event_context(request, principal),
        )
    report = download.report
    name = f"report-{report.period.start.isoformat()}-{report.id}.pdf"
    return Response(
        content=download.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
