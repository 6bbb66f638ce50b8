"""What the security service refuses, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.api import ErrorCode
from mss_contracts.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidStateTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)


class OrganizationNotFound(NotFound):
    """An organization outside the caller's scope (or none at all)."""


class AlertNotFound(NotFound):
    """Unknown, or another tenant's: never says which."""


class InvalidAlertTransition(InvalidStateTransition):
    """A workflow step the alert's status does not allow; `details.status` is the current one."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message, details={"status": status})
        self.current_status = status


class StaleAlertVersion(PreconditionFailed):
    """The If-Match version is not the alert's current one."""


class InvalidAssignee(ValidationFailed):
    """The assignee is not a provider user holding `alerts:update`."""

    def __init__(self) -> None:
        super().__init__(
            "The assignee must be an active provider user who may update alerts",
            details={"userId": "not an active provider user holding alerts:update"},
        )


class OrganizationNotAllowed(Forbidden):
    """An API key bound to one organization names another (API.md: 403)."""


class QuotaExceeded(ApiError):
    """The organization's alerts-per-minute quota is spent; retry after `retry_after` s."""

    status = 429
    code = ErrorCode.QUOTA_EXCEEDED
    default_message = "Alert ingest quota exceeded for this organization"

    def __init__(self, *, retry_after: int, quota: int) -> None:
        super().__init__(
            details={"alertQuotaPerMinute": quota, "retryAfter": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class InvalidListQuery(ValidationFailed):
    """A list query the API refuses (unknown filter value, short q, bad cursor): 422."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)


class InvalidIngest(ValidationFailed):
    """Items of an ingest request refused (keyed `alerts[<index>].<field>`): nothing stored."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)


class DuplicateUnresolvedAlert(Conflict):
    """Reopening would make two unresolved alerts of one dedup key (a recurrence exists)."""

    default_message = "A newer unresolved alert with the same fingerprint exists"


class IndicatorNotFound(NotFound):
    """Unknown, or an indicator of an organization outside the caller's scope."""


class ImportNotFound(NotFound):
    """Unknown import job."""


class InvalidIndicators(ValidationFailed):
    """Indicators refused (keyed `indicators[<index>].<field>`): nothing stored."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)


class ReportNotFound(NotFound):
    """Unknown, another tenant's, or (for a customer) not published yet: never says which."""


class InvalidReportTransition(InvalidStateTransition):
    """A workflow step the report's status does not allow; `details.status` is the current one."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message, details={"status": status})
        self.current_status = status


class StaleReportVersion(PreconditionFailed):
    """The If-Match version is not the report's current one."""


class FourEyesRequired(Forbidden):
    """The report's author may not approve or reject it (API.md: 403 FOUR_EYES_REQUIRED)."""

    code = ErrorCode.FOUR_EYES_REQUIRED
    default_message = "A report is approved or rejected by someone other than its author"


class InvalidReport(ValidationFailed):
    """A report body the API refuses beyond its schema (an organization, a period): 422."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)
