"""Reports, their stored PDFs and the period metrics, inside a tenant-scoped unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mss_db import UnitOfWork
from mss_db.pages import fetch_page
from mss_db.scope import in_scope
from mss_security.adapters.tables import ReportDocumentRow, ReportRow
from mss_security.domain.alerts import Severity
from mss_security.domain.reports import (
    AlertFigures,
    Finding,
    InterventionFigures,
    Metrics,
    Period,
    Report,
    ReportStatus,
    ReportType,
    mean_seconds,
)

REPORTS = ReportRow.__table__
R = REPORTS.c
DOCUMENTS = ReportDocumentRow.__table__
D = DOCUMENTS.c


def _to_report(row: Row[Any]) -> Report:
    return Report(
        id=row.id,
        org_id=row.org_id,
        title=row.title,
        type=ReportType(row.type),
        status=ReportStatus(row.status),
        generated_by=row.generated_by,
        summary=row.summary,
        findings=tuple(Finding.of_json(f) for f in row.findings),
        metrics=dict(row.metrics),
        period=Period(start=row.report_period_start, end=row.report_period_end),
        submitted_at=row.submitted_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        published_at=row.published_at,
        rejection_reason=row.rejection_reason,
        content_sha256=row.content_sha256.strip() if row.content_sha256 else None,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        scheduled=row.scheduled,
    )


def _columns(report: Report) -> dict[str, Any]:
    return {
        "title": report.title,
        "type": report.type.value,
        "status": report.status.value,
        "summary": report.summary,
        "findings": [f.as_json() for f in report.findings],
        "metrics": report.metrics,
        "report_period_start": report.period.start,
        "report_period_end": report.period.end,
        "submitted_at": report.submitted_at,
        "approved_by": report.approved_by,
        "approved_at": report.approved_at,
        "published_at": report.published_at,
        "rejection_reason": report.rejection_reason,
        "content_sha256": report.content_sha256,
        "version": report.version,
        "updated_at": report.updated_at,
    }


@dataclass(frozen=True, slots=True)
class ReportQuery:
    org_id: UUID | None = None
    status: ReportStatus | None = None
    type: ReportType | None = None
    published_only: bool = False


@dataclass(frozen=True, slots=True)
class StoredDocument:
    content: bytes
    content_sha256: str


class ReportRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.conn

    async def add(self, report: Report) -> None:
        await self._conn.execute(
            insert(REPORTS).values(
                id=report.id,
                org_id=report.org_id,
                generated_by=report.generated_by,
                scheduled=report.scheduled,
                created_at=report.created_at,
                **_columns(report),
            )
        )

    async def add_scheduled(self, report: Report) -> bool:
        """The worker's monthly draft, unless one for this org, type and period exists."""
        statement = (
            pg_insert(REPORTS)
            .values(
                id=report.id,
                org_id=report.org_id,
                generated_by=report.generated_by,
                scheduled=True,
                created_at=report.created_at,
                **_columns(report),
            )
            .on_conflict_do_nothing(
                index_elements=[R.org_id, R.type, R.report_period_start, R.report_period_end],
                index_where=R.scheduled,
            )
            .returning(R.id)
        )
        return (await self._conn.execute(statement)).first() is not None

    async def scheduled_for(self, type: ReportType, period: Period) -> set[UUID]:
        """The organizations that already have the worker's draft of this type and period."""
        rows = await self._conn.execute(
            select(R.org_id).where(
                R.scheduled,
                R.type == type.value,
                R.report_period_start == period.start,
                R.report_period_end == period.end,
            )
        )
        return set(rows.scalars())

    async def get(
        self, report_id: UUID, *, for_update: bool = False, published_only: bool = False
    ) -> Report | None:
        query = select(REPORTS).where(R.id == report_id)
        if published_only:
            query = query.where(R.status == ReportStatus.PUBLISHED.value)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_report(row) if row else None

    async def save(self, report: Report) -> None:
        await self._conn.execute(
            update(REPORTS).where(R.id == report.id).values(**_columns(report))
        )

    async def page(
        self, where: ReportQuery, *, offset: int, limit: int
    ) -> tuple[list[Report], int]:
        query = select(REPORTS).where(in_scope(R.org_id, self._uow.scope))
        if where.org_id is not None:
            query = query.where(R.org_id == where.org_id)
        if where.status is not None:
            query = query.where(R.status == where.status.value)
        if where.type is not None:
            query = query.where(R.type == where.type.value)
        if where.published_only:
            query = query.where(R.status == ReportStatus.PUBLISHED.value)
        query = query.order_by(R.created_at.desc(), R.id.desc())
        rows, total = await fetch_page(self._conn, query, offset=offset, limit=limit)
        return [_to_report(row) for row in rows], total

    async def store_document(self, report: Report, content: bytes, sha256: str) -> None:
        await self._conn.execute(
            insert(DOCUMENTS).values(
                report_id=report.id,
                org_id=report.org_id,
                content=content,
                content_sha256=sha256,
                created_at=datetime.now(UTC),
            )
        )

    async def document(self, report_id: UUID) -> StoredDocument | None:
        row = (
            await self._conn.execute(
                select(D.content, D.content_sha256).where(D.report_id == report_id)
            )
        ).first()
        if row is None:
            return None
        return StoredDocument(content=bytes(row.content), content_sha256=row.content_sha256)


# The period's alerts by severity and category, with the ack/resolve times summed: at most
# 32 groups, read over the (org_id, last_seen_at) index — the field API.md bounds alert
# time ranges on, so the figures equal `GET /api/alerts?orgId&from&to`.
_ALERT_FIGURES = text(
    """
    SELECT severity, category, count(*) AS total,
           count(*) FILTER (WHERE status = 2) AS resolved,
           count(*) FILTER (WHERE resolution = 'false_positive') AS false_positives,
           count(acknowledged_at) AS acknowledged,
           coalesce(sum(extract(epoch FROM acknowledged_at - first_seen_at)), 0) AS ack_s,
           count(resolved_at) AS resolutions,
           coalesce(sum(extract(epoch FROM resolved_at - first_seen_at)), 0) AS res_s
    FROM security.alerts
    WHERE org_id = :org_id AND last_seen_at >= :start AND last_seen_at < :end
    GROUP BY severity, category
    """
)

# Interventions requested in the period; a deadline counts as breached when the event said
# so, or when it was met late, or when it passed while still open.
_INTERVENTION_FIGURES = text(
    """
    SELECT count(*) AS total,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           coalesce(sum(actual_hours), 0) AS hours,
           count(*) FILTER (WHERE response_breached OR resolution_breached
               OR (responded_at IS NULL AND status NOT IN ('completed', 'cancelled')
                   AND response_due_at < now())
               OR (status NOT IN ('completed', 'cancelled') AND resolution_due_at < now())
           ) AS breaches
    FROM security.interventions_view
    WHERE org_id = :org_id AND requested_at >= :start AND requested_at < :end
    """
)


async def period_metrics(uow: UnitOfWork, org_id: UUID, period: Period) -> Metrics:
    """What the organization's alerts and interventions of the period add up to."""
    start, end = period.bounds
    params = {"org_id": org_id, "start": start, "end": end}
    groups: Sequence[Row[Any]] = (await uow.conn.execute(_ALERT_FIGURES, params)).all()
    by_severity = {s.value: 0 for s in Severity}
    by_category: dict[str, int] = {}
    total = resolved = false_positives = acknowledged = resolutions = 0
    ack_s = res_s = 0.0
    for g in groups:
        by_severity[Severity.of_rank(g.severity).value] += g.total
        by_category[g.category] = by_category.get(g.category, 0) + g.total
        total += g.total
        resolved += g.resolved
        false_positives += g.false_positives
        acknowledged += g.acknowledged
        resolutions += g.resolutions
        ack_s += float(g.ack_s)
        res_s += float(g.res_s)
    work = (await uow.conn.execute(_INTERVENTION_FIGURES, params)).one()
    return Metrics(
        alerts=AlertFigures(
            total=total,
            by_severity=by_severity,
            by_category=dict(sorted(by_category.items())),
            resolved=resolved,
            false_positives=false_positives,
        ),
        mtta_seconds=mean_seconds(ack_s, acknowledged),
        mttr_seconds=mean_seconds(res_s, resolutions),
        interventions=InterventionFigures(
            total=work.total, completed=work.completed, hours=float(work.hours)
        ),
        sla_breaches=work.breaches,
    )


_DAILY_ALERTS = text(
    """
    SELECT (last_seen_at AT TIME ZONE 'UTC')::date AS day, count(*) AS alerts
    FROM security.alerts
    WHERE org_id = :org_id AND last_seen_at >= :start AND last_seen_at < :end
    GROUP BY 1
    """
)


async def daily_alerts(uow: UnitOfWork, org_id: UUID, period: Period) -> dict[date, int]:
    """The period's alerts per UTC day (the report's trend chart); days without none."""
    start, end = period.bounds
    rows = await uow.conn.execute(_DAILY_ALERTS, {"org_id": org_id, "start": start, "end": end})
    return {row.day: int(row.alerts) for row in rows}
