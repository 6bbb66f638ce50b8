"""What the intervention service's rules refuse, each with its HTTP status and API code."""

from __future__ import annotations

from mss_contracts.api import ErrorCode
from mss_contracts.errors import (
    Conflict,
    Forbidden,
    InvalidStateTransition,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)


class InterventionNotFound(NotFound):
    """Unknown, or another tenant's (never says which)."""


class OrganizationNotFound(NotFound):
    """The organization named is unknown or outside the caller's scope."""


class InvalidTransition(InvalidStateTransition):
    """A step the state machine does not allow from the current status."""

    def __init__(self, step: str, status: str) -> None:
        super().__init__(
            f"Cannot {step.replace('_', ' ')} an intervention that is {status}",
            details={"status": status},
        )
        self.status_now = status


class StepForbidden(Forbidden):
    """The caller holds the permission but is not the one this step belongs to."""


class GrantRequired(Conflict):
    """The technician holds no active access grant for the organization right now."""

    code = ErrorCode.GRANT_REQUIRED
    default_message = "The technician holds no active access grant for this organization"


class StaleVersion(PreconditionFailed):
    """If-Match named a version older (or newer) than the stored one."""

    def __init__(self, current: int) -> None:
        super().__init__(details={"version": current})


class InvalidIntervention(ValidationFailed):
    """A value a rule refuses; `problems` maps each offending field to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)
        self.problems = problems
