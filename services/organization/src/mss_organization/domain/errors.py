"""What the organization service's rules refuse, each with its HTTP status and API code."""

from __future__ import annotations

from collections.abc import Sequence

from mss_contracts.errors import (
    Conflict,
    Forbidden,
    InvalidStateTransition,
    NotFound,
    ValidationFailed,
)


class OrganizationNotFound(NotFound):
    """Unknown, or outside the caller's scope."""


class GrantNotFound(NotFound):
    pass


class RemoteSessionNotFound(NotFound):
    """Unknown, or not the caller's to end."""


class InvalidTransition(InvalidStateTransition):
    """A life-cycle step the current state does not allow (suspend twice, ...)."""


class GrantNotActive(InvalidTransition):
    pass


class RemoteSessionNotActive(InvalidTransition):
    pass


class ProviderOrganizationProtected(Conflict):
    pass


class InvalidGrant(ValidationFailed):
    """A grant request breaks rules; `problems` maps each offending field to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(details=problems)
        self.problems = problems


class RemoteAccessRefused(Forbidden):
    """No grant admits the request; `reasons` says why each active grant refused."""

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        self.reasons = list(reasons)
        super().__init__(message, details={"reason": "; ".join(self.reasons) or message})
