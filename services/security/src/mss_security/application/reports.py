"""Report use cases: the four-eyes workflow, metrics from the period, the PDF at /publish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from mss_contracts.events import (
    EventContext,
    EventData,
    EventEnvelope,
    ReportApproved,
    ReportCreated,
    ReportDownloaded,
    ReportPublished,
    ReportRejected,
    ReportSubmitted,
    ReportUpdated,
    new_event,
)
from mss_db import UnitOfWork
from mss_security.adapters.directories import OrgDirectory
from mss_security.adapters.interventions import InterventionsView
from mss_security.adapters.rendering import RenderedPdf, RenderInput
from mss_security.adapters.reports import (
    ReportQuery,
    ReportRepository,
    daily_alerts,
    period_metrics,
)
from mss_security.domain.errors import InvalidReport, ReportNotFound
from mss_security.domain.reports import (
    SCHEDULER,
    Finding,
    Period,
    Report,
    ReportStatus,
    ReportType,
)

Render = Callable[[RenderInput], Awaitable[RenderedPdf]]


def _snapshot(report: Report) -> dict[str, Any]:
    return {
        "title": report.title,
        "type": report.type.value,
        "status": report.status.value,
        "generated_by": report.generated_by,
        "report_period_start": report.period.start,
        "report_period_end": report.period.end,
        "approved_by": report.approved_by,
    }


def _event(report: Report, data: EventData, ctx: EventContext) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=report.id,
        organization_id=report.org_id,
        version=report.version,
        context=ctx,
    )


@dataclass(frozen=True, slots=True)
class CreateReport:
    org_id: UUID
    title: str
    type: ReportType
    period: Period
    summary: str
    findings: tuple[Finding, ...]
    generated_by: UUID


async def _metrics(uow: UnitOfWork, org_id: UUID, period: Period) -> dict[str, Any]:
    """The period's figures, escalations not yet heard of asked of their owner first."""
    await InterventionsView(uow).fill_escalated(org_id, *period.bounds)
    return (await period_metrics(uow, org_id, period)).as_json()


async def _customer(uow: UnitOfWork, org_id: UUID) -> None:
    """A report is about one customer organization the caller may see (422 otherwise)."""
    org = await OrgDirectory(uow).receiving(org_id)
    if org is None or org.type != "customer":
        raise InvalidReport({"organizationId": "not a customer organization in your scope"})


def _new_report(cmd: CreateReport, metrics: dict[str, Any], now: datetime) -> Report:
    return Report(
        id=uuid4(),
        org_id=cmd.org_id,
        title=cmd.title,
        type=cmd.type,
        status=ReportStatus.DRAFT,
        generated_by=cmd.generated_by,
        summary=cmd.summary,
        findings=cmd.findings,
        metrics=metrics,
        period=cmd.period,
        submitted_at=None,
        approved_by=None,
        approved_at=None,
        published_at=None,
        rejection_reason=None,
        content_sha256=None,
        version=1,
        created_at=now,
        updated_at=now,
    )


async def create_report(cmd: CreateReport, *, uow: UnitOfWork, ctx: EventContext) -> Report:
    """A draft whose metrics the service computes from the organization's period."""
    await _customer(uow, cmd.org_id)
    metrics = await _metrics(uow, cmd.org_id, cmd.period)
    report = _new_report(cmd, metrics, datetime.now(UTC))
    await ReportRepository(uow).add(report)
    await uow.outbox.add(_event(report, ReportCreated(**_snapshot(report)), ctx))
    await uow.commit()
    return report


async def get_report(report_id: UUID, *, customer: bool, uow: UnitOfWork) -> Report:
    """Customers see published reports only: any other id is a 404 to them."""
    report = await ReportRepository(uow).get(report_id, published_only=customer)
    if report is None:
        raise ReportNotFound()
    return report


async def list_reports(
    where: ReportQuery, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[Report], int]:
    return await ReportRepository(uow).page(where, offset=offset, limit=limit)


async def _load_for_change(uow: UnitOfWork, report_id: UUID, expected: int | None) -> Report:
    report = await ReportRepository(uow).get(report_id, for_update=True)
    if report is None:
        raise ReportNotFound()
    report.check_version(expected)
    return report


async def _commit_change(
    uow: UnitOfWork, report: Report, data: EventData, ctx: EventContext
) -> Report:
    await ReportRepository(uow).save(report)
    await uow.outbox.add(_event(report, data, ctx))
    await uow.commit()
    return report


async def update_report(
    report_id: UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Report:
    """PUT on a draft; a new period recomputes the metrics."""
    before = await _load_for_change(uow, report_id, expected_version)
    report = before.edit(changes, datetime.now(UTC))
    if not report.changed:
        return report
    if report.period != before.period:
        report = replace(report, metrics=await _metrics(uow, report.org_id, report.period))
    return await _commit_change(
        uow, report, ReportUpdated(**_snapshot(report), changed=list(report.changed)), ctx
    )


async def submit_report(
    report_id: UUID, *, expected_version: int | None, uow: UnitOfWork, ctx: EventContext
) -> Report:
    report = (await _load_for_change(uow, report_id, expected_version)).submit(datetime.now(UTC))
    return await _commit_change(uow, report, ReportSubmitted(**_snapshot(report)), ctx)


async def approve_report(
    report_id: UUID, *, by: UUID, expected_version: int | None, uow: UnitOfWork, ctx: EventContext
) -> Report:
    report = (await _load_for_change(uow, report_id, expected_version)).approve(
        by=by, now=datetime.now(UTC)
    )
    return await _commit_change(uow, report, ReportApproved(**_snapshot(report)), ctx)


async def reject_report(
    report_id: UUID,
    reason: str,
    *,
    by: UUID,
    expected_version: int | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Report:
    report = (await _load_for_change(uow, report_id, expected_version)).reject(
        reason, by=by, now=datetime.now(UTC)
    )
    return await _commit_change(
        uow, report, ReportRejected(**_snapshot(report), reason=reason), ctx
    )


async def render_input(report: Report, *, draft: bool, uow: UnitOfWork) -> RenderInput:
    """What the PDF shows: the report, its organization's name, the alerts per day."""
    daily = await daily_alerts(uow, report.org_id, report.period)
    days = (report.period.end - report.period.start).days + 1
    series = tuple(
        (day, daily.get(day, 0))
        for day in (date.fromordinal(report.period.start.toordinal() + i) for i in range(days))
    )
    name = await OrgDirectory(uow).name_of(report.org_id)
    return RenderInput(
        report=report, org_name=name or str(report.org_id), daily_alerts=series, draft=draft
    )


async def publish_report(
    report_id: UUID,
    *,
    expected_version: int | None,
    render: Render,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Report:
    """Render once, store the bytes for good, and name their SHA-256 in the event.

    The row stays locked while the PDF renders (out of process): a second /publish waits
    and then finds the report published (409), so no report is ever rendered twice.
    """
    before = await _load_for_change(uow, report_id, expected_version)
    before.check_publishable()
    now = datetime.now(UTC)
    # The PDF shows the published state (its date) without the DRAFT mark.
    shown = replace(before, status=ReportStatus.PUBLISHED, published_at=now)
    pdf = await render(await render_input(shown, draft=False, uow=uow))
    report = before.publish(pdf.sha256, now)
    await ReportRepository(uow).store_document(report, pdf.content, pdf.sha256)
    return await _commit_change(
        uow, report, ReportPublished(**_snapshot(report), content_sha256=pdf.sha256), ctx
    )


@dataclass(frozen=True, slots=True)
class Download:
    report: Report
    content: bytes


async def download_report(
    report_id: UUID, *, customer: bool, render: Render, uow: UnitOfWork, ctx: EventContext
) -> Download:
    """A published report's stored bytes; provider staff get earlier states rendered now,
    DRAFT-marked. Every download is an event (the audit log's row)."""
    report = await get_report(report_id, customer=customer, uow=uow)
    if report.is_published:
        stored = await ReportRepository(uow).document(report.id)
        if stored is None:
            raise ReportNotFound()
        content, sha256 = stored.content, stored.content_sha256
    else:
        pdf = await render(await render_input(report, draft=True, uow=uow))
        content, sha256 = pdf.content, pdf.sha256
    data = ReportDownloaded(**_snapshot(report), content_sha256=sha256)
    await uow.outbox.add(_event(report, data, ctx))
    await uow.commit()
    return Download(report=report, content=content)


async def draft_monthly_reports(today: date, *, uow: UnitOfWork, ctx: EventContext) -> list[Report]:
    """The previous month's `monthly` draft for every active customer organization, once:
    the partial unique index makes a second replica's (or a restart's) insert a no-op."""
    period = Period.month_before(today)
    drafted = []
    # Most passes find every draft made: they cost one index read, not a metrics query each.
    done = await ReportRepository(uow).scheduled_for(ReportType.MONTHLY, period)
    for org_id in await OrgDirectory(uow).active_customers():
        if org_id in done:
            continue
        metrics = await _metrics(uow, org_id, period)
        cmd = CreateReport(
            org_id=org_id,
            title=f"Monthly security report — {period.label()}",
            type=ReportType.MONTHLY,
            period=period,
            summary="",
            findings=(),
            generated_by=SCHEDULER,
        )
        report = replace(_new_report(cmd, metrics, datetime.now(UTC)), scheduled=True)
        if await ReportRepository(uow).add_scheduled(report):
            await uow.outbox.add(_event(report, ReportCreated(**_snapshot(report)), ctx))
            drafted.append(report)
    await uow.commit()
    return drafted
