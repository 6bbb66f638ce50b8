"""The report's workflow, four eyes and period rules, with a fixed clock and no I/O."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from mss_security.domain.errors import (
    FourEyesRequired,
    InvalidReportTransition,
    StaleReportVersion,
)
from mss_security.domain.reports import (
    AlertFigures,
    InterventionFigures,
    Metrics,
    Period,
    Report,
    ReportStatus,
    ReportType,
    mean_seconds,
)

NOW = datetime(2026, 11, 15, 9, 30, tzinfo=UTC)
AUTHOR = uuid.uuid4()
REVIEWER = uuid.uuid4()


def draft(**changes: object) -> Report:
    report = Report(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        title="Monthly",
        type=ReportType.MONTHLY,
        status=ReportStatus.DRAFT,
        generated_by=AUTHOR,
        summary="",
        findings=(),
        metrics={},
        period=Period(date(2026, 10, 1), date(2026, 10, 31)),
        submitted_at=None,
        approved_by=None,
        approved_at=None,
        published_at=None,
        rejection_reason=None,
        content_sha256=None,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(report, **changes)  # type: ignore[arg-type]


class TestWorkflow:
    def test_the_happy_path_steps_and_counts_versions(self) -> None:
        report = draft().submit(NOW)
        assert (report.status, report.submitted_at, report.version) == (
            ReportStatus.IN_REVIEW,
            NOW,
            2,
        )
        report = report.approve(by=REVIEWER, now=NOW)
        assert (report.status, report.approved_by) == (ReportStatus.APPROVED, REVIEWER)
        report = report.publish("a" * 64, NOW)
        assert (report.status, report.content_sha256, report.version) == (
            ReportStatus.PUBLISHED,
            "a" * 64,
            4,
        )

    def test_the_author_may_neither_approve_nor_reject(self) -> None:
        in_review = draft().submit(NOW)
        with pytest.raises(FourEyesRequired) as refused:
            in_review.approve(by=AUTHOR, now=NOW)
        assert refused.value.code == "FOUR_EYES_REQUIRED"
        assert refused.value.status == 403
        with pytest.raises(FourEyesRequired):
            in_review.reject("no", by=AUTHOR, now=NOW)

    def test_a_rejection_goes_back_to_draft_with_its_reason(self) -> None:
        back = draft().submit(NOW).reject("Add figures", by=REVIEWER, now=NOW)
        assert (back.status, back.rejection_reason, back.submitted_at) == (
            ReportStatus.DRAFT,
            "Add figures",
            None,
        )
        assert back.submit(NOW).status is ReportStatus.IN_REVIEW

    @pytest.mark.parametrize(
        ("status", "step"),
        [
            (ReportStatus.IN_REVIEW, "submit"),
            (ReportStatus.DRAFT, "approve"),
            (ReportStatus.APPROVED, "reject"),
            (ReportStatus.DRAFT, "publish"),
            (ReportStatus.IN_REVIEW, "publish"),
            (ReportStatus.PUBLISHED, "publish"),
            (ReportStatus.IN_REVIEW, "edit"),
            (ReportStatus.PUBLISHED, "edit"),
        ],
    )
    def test_a_step_the_status_refuses_is_409_naming_it(
        self, status: ReportStatus, step: str
    ) -> None:
        report = draft(status=status)
        actions = {
            "submit": lambda: report.submit(NOW),
            "approve": lambda: report.approve(by=REVIEWER, now=NOW),
            "reject": lambda: report.reject("x", by=REVIEWER, now=NOW),
            "publish": lambda: report.publish("a" * 64, NOW),
            "edit": lambda: report.edit({"title": "New"}, NOW),
        }
        with pytest.raises(InvalidReportTransition) as refused:
            actions[step]()
        assert refused.value.details == {"status": status.value}

    def test_an_edit_changes_only_what_differs(self) -> None:
        report = draft()
        same = report.edit({"title": "Monthly"}, NOW)
        assert (same.changed, same.version) == ((), 1)
        moved = report.edit({"report_period_end": date(2026, 10, 15)}, NOW)
        assert moved.period == Period(date(2026, 10, 1), date(2026, 10, 15))
        assert (moved.changed, moved.version) == (("report_period_end",), 2)

    def test_a_stale_version_is_refused(self) -> None:
        with pytest.raises(StaleReportVersion):
            draft().check_version(7)
        draft().check_version(1)
        draft().check_version(None)


class TestPeriods:
    def test_the_month_before(self) -> None:
        assert Period.month_before(date(2026, 3, 1)) == Period(date(2026, 2, 1), date(2026, 2, 28))
        assert Period.month_before(date(2026, 1, 17)) == Period(
            date(2025, 12, 1), date(2025, 12, 31)
        )

    def test_both_days_are_included(self) -> None:
        start, end = Period(date(2026, 10, 1), date(2026, 10, 31)).bounds
        assert (start, end) == (
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
        )

    def test_a_whole_month_reads_as_its_name(self) -> None:
        assert Period(date(2026, 2, 1), date(2026, 2, 28)).label() == "February 2026"
        assert Period(date(2026, 2, 1), date(2026, 2, 10)).label() == "2026-02-01 – 2026-02-10"


class TestMetrics:
    def test_means_are_none_without_measurements(self) -> None:
        assert mean_seconds(0, 0) is None
        assert mean_seconds(90, 3) == 30

    def test_the_api_shape(self) -> None:
        metrics = Metrics(
            alerts=AlertFigures(
                total=3,
                by_severity={"low": 1, "medium": 0, "high": 1, "critical": 1},
                by_category={"malware": 3},
                resolved=1,
                false_positives=1,
            ),
            mtta_seconds=12.5,
            mttr_seconds=None,
            interventions=InterventionFigures(total=2, completed=1, hours=1.75),
            sla_breaches=1,
        )
        assert metrics.as_json() == {
            "alerts": {
                "total": 3,
                "bySeverity": {"low": 1, "medium": 0, "high": 1, "critical": 1},
                "byCategory": {"malware": 3},
                "resolved": 1,
                "falsePositives": 1,
            },
            "mttaSeconds": 12.5,
            "mttrSeconds": None,
            "interventions": {"total": 2, "completed": 1, "hours": 1.75},
            "slaBreaches": 1,
        }
