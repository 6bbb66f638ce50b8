"""Reports: the four-eyes workflow, what may change when, and the metrics they carry."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from mss_security.domain.errors import (
    FourEyesRequired,
    InvalidReportTransition,
    StaleReportVersion,
)

TITLE_MAX = 255
SUMMARY_MAX = 20_000
FINDINGS_MAX = 100
FINDING_TEXT_MAX = 10_000
FINDING_ALERTS_MAX = 100
REASON_MAX = 2_000
# The worker's monthly drafts are authored by nobody in particular: any analyst may approve.
SCHEDULER = UUID(int=0)


class ReportType(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    INCIDENT = "incident"
    VULNERABILITY = "vulnerability"
    EXECUTIVE = "executive"
    CUSTOM = "custom"


class ReportStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class Finding:
    title: str
    severity: str
    description: str
    recommendation: str
    alert_ids: tuple[UUID, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "severity": self.severity,
            "description": self.description,
            "recommendation": self.recommendation,
            "alertIds": [str(a) for a in self.alert_ids],
        }

    @classmethod
    def of_json(cls, raw: dict[str, Any]) -> Finding:
        return cls(
            title=raw["title"],
            severity=raw["severity"],
            description=raw["description"],
            recommendation=raw["recommendation"],
            alert_ids=tuple(UUID(a) for a in raw.get("alertIds", [])),
        )


@dataclass(frozen=True, slots=True)
class AlertFigures:
    total: int
    by_severity: dict[str, int]
    by_category: dict[str, int]
    resolved: int
    false_positives: int


@dataclass(frozen=True, slots=True)
class InterventionFigures:
    total: int
    completed: int
    hours: float


@dataclass(frozen=True, slots=True)
class Metrics:
    """API.md "Reports" `metrics`: what the period's alerts and interventions add up to."""

    alerts: AlertFigures
    mtta_seconds: float | None
    mttr_seconds: float | None
    interventions: InterventionFigures
    sla_breaches: int

    def as_json(self) -> dict[str, Any]:
        return {
            "alerts": {
                "total": self.alerts.total,
                "bySeverity": self.alerts.by_severity,
                "byCategory": self.alerts.by_category,
                "resolved": self.alerts.resolved,
                "falsePositives": self.alerts.false_positives,
            },
            "mttaSeconds": self.mtta_seconds,
            "mttrSeconds": self.mttr_seconds,
            "interventions": {
                "total": self.interventions.total,
                "completed": self.interventions.completed,
                "hours": self.interventions.hours,
            },
            "slaBreaches": self.sla_breaches,
        }


def mean_seconds(total_seconds: float, count: int) -> float | None:
    """A mean time in whole-ish seconds; None when nothing was measured."""
    if count <= 0:
        return None
    return round(total_seconds / count, 3)


@dataclass(frozen=True, slots=True)
class Period:
    """`reportPeriodStart`..`reportPeriodEnd`, both days included (API.md "Precisions")."""

    start: date
    end: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """The half-open UTC instants `[start 00:00, end + 1 day 00:00)` the queries use."""
        return (
            datetime.combine(self.start, time(), UTC),
            datetime.combine(self.end + timedelta(days=1), time(), UTC),
        )

    @classmethod
    def month_before(cls, today: date) -> Period:
        """The whole calendar month before the one `today` lies in."""
        last = today.replace(day=1) - timedelta(days=1)
        return cls(start=last.replace(day=1), end=last)

    def label(self) -> str:
        if (
            self.start.day == 1
            and self.start.year == self.end.year
            and self.start.month == self.end.month
            and self.end.day == calendar.monthrange(self.end.year, self.end.month)[1]
        ):
            return self.start.strftime("%B %Y")
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class Report:
    id: UUID
    org_id: UUID
    title: str
    type: ReportType
    status: ReportStatus
    generated_by: UUID
    summary: str
    findings: tuple[Finding, ...]
    metrics: dict[str, Any]
    period: Period
    submitted_at: datetime | None
    approved_by: UUID | None
    approved_at: datetime | None
    published_at: datetime | None
    rejection_reason: str | None
    content_sha256: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    scheduled: bool = False
    changed: tuple[str, ...] = field(default=())

    @property
    def report_period_start(self) -> date:
        return self.period.start

    @property
    def report_period_end(self) -> date:
        return self.period.end

    def check_version(self, expected: int | None) -> None:
        """If-Match: a stale version is refused (412) before any change is made."""
        if expected is not None and expected != self.version:
            raise StaleReportVersion()

    def _refuse(self, step: str) -> InvalidReportTransition:
        return InvalidReportTransition(
            f"Cannot {step} a report that is {self.status.value}", status=self.status.value
        )

    def _step(self, now: datetime, **changes: Any) -> Report:
        return replace(self, version=self.version + 1, updated_at=now, **changes)

    def edit(self, changes: dict[str, Any], now: datetime) -> Report:
        """PUT: only a draft changes; `changes` holds the fields given, already validated."""
        if self.status is not ReportStatus.DRAFT:
            raise self._refuse("edit")
        changed = tuple(
            name for name, value in changes.items() if getattr(self, name, None) != value
        )
        if not changed:
            return replace(self, changed=())
        period = Period(
            start=changes.get("report_period_start", self.period.start),
            end=changes.get("report_period_end", self.period.end),
        )
        plain = {
            k: v
            for k, v in changes.items()
            if k not in ("report_period_start", "report_period_end")
        }
        return self._step(now, period=period, changed=changed, **plain)

    def submit(self, now: datetime) -> Report:
        if self.status is not ReportStatus.DRAFT:
            raise self._refuse("submit")
        return self._step(now, status=ReportStatus.IN_REVIEW, submitted_at=now, changed=())

    def _check_four_eyes(self, by: UUID) -> None:
        if by == self.generated_by:
            raise FourEyesRequired()

    def approve(self, *, by: UUID, now: datetime) -> Report:
        """The second pair of eyes: anyone but the author (checked before the state)."""
        self._check_four_eyes(by)
        if self.status is not ReportStatus.IN_REVIEW:
            raise self._refuse("approve")
        return self._step(
            now, status=ReportStatus.APPROVED, approved_by=by, approved_at=now, changed=()
        )

    def reject(self, reason: str, *, by: UUID, now: datetime) -> Report:
        self._check_four_eyes(by)
        if self.status is not ReportStatus.IN_REVIEW:
            raise self._refuse("reject")
        return self._step(
            now,
            status=ReportStatus.DRAFT,
            rejection_reason=reason,
            submitted_at=None,
            changed=(),
        )

    def check_publishable(self) -> None:
        if self.status is not ReportStatus.APPROVED:
            raise self._refuse("publish")

    def publish(self, content_sha256: str, now: datetime) -> Report:
        self.check_publishable()
        return self._step(
            now,
            status=ReportStatus.PUBLISHED,
            published_at=now,
            content_sha256=content_sha256,
            changed=(),
        )

    @property
    def is_published(self) -> bool:
        return self.status is ReportStatus.PUBLISHED
