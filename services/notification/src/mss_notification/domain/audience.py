"""Who is told about an event (API.md "Notifications → Who is told"), before preferences.

Pure rules: the event's type, organization and payload in, the audience out, as targets the
application resolves against its user directory (roles of one organization, provider roles,
named people) minus the people excluded (a report's author is not asked to review it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from mss_contracts.permissions import Role

SEVERITIES = ("info", "low", "medium", "high", "critical")

ANALYSTS = frozenset({Role.SECURITY_ANALYST})
ORG_ALERT_READERS = frozenset({Role.ADMIN, Role.REPORT_VIEWER})
REPORT_READERS = frozenset({Role.ADMIN, Role.REPORT_VIEWER, Role.REQUEST_USER})

# The steps of an intervention that tell its requester and technician (not edits or
# work-log entries: those change no state anyone waits for).
INTERVENTION_STEPS = frozenset(
    {
        "intervention.requested",
        "intervention.approved",
        "intervention.assigned",
        "intervention.scheduled",
        "intervention.started",
        "intervention.completed",
        "intervention.cancelled",
    }
)
SLA_BREACHED = "intervention.sla.breached"
ALERT_CREATED = "security.alert.created"
ALERT_ASSIGNED = "security.alert.assigned"
REPORT_SUBMITTED = "security.report.submitted"
REPORT_PUBLISHED = "security.report.published"
WEBHOOK_DISABLED = "webhook.disabled"

# Every event type someone may be told about: what preferences may mute.
NOTIFIED_TYPES = frozenset(
    {
        ALERT_CREATED,
        ALERT_ASSIGNED,
        *INTERVENTION_STEPS,
        SLA_BREACHED,
        REPORT_SUBMITTED,
        REPORT_PUBLISHED,
        WEBHOOK_DISABLED,
    }
)


def severity_rank(severity: str | None) -> int:
    """Position in `SEVERITIES` (an unknown or missing severity ranks lowest)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True, slots=True)
class OrgRoles:
    """The active users of one organization holding one of `roles`."""

    org_id: UUID
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class ProviderRoles:
    """The active provider users holding one of `roles` (they exist only in the provider)."""

    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class Person:
    user_id: UUID


Target = OrgRoles | ProviderRoles | Person


@dataclass(frozen=True, slots=True)
class Audience:
    targets: tuple[Target, ...] = ()
    excluded: frozenset[UUID] = field(default_factory=frozenset)


NOBODY = Audience()


def _uuid(value: Any) -> UUID | None:
    if value is None:
        return None
    return value if isinstance(value, UUID) else UUID(str(value))


def _people(*ids: UUID | None) -> tuple[Person, ...]:
    return tuple(Person(i) for i in dict.fromkeys(ids) if i is not None)


def who_is_told(
    event_type: str,
    *,
    org_id: UUID | None,
    data: Mapping[str, Any],
    min_alert_severity: str,
) -> Audience:
    """The audience of one event; `min_alert_severity` is the organization's default."""
    if event_type == ALERT_CREATED:
        if org_id is None:
            return NOBODY
        severity = str(data.get("severity"))
        targets: list[Target] = []
        if severity_rank(severity) >= severity_rank(min_alert_severity):
            targets.append(OrgRoles(org_id, ORG_ALERT_READERS))
        if severity == "critical":
            targets.append(ProviderRoles(ANALYSTS))
        return Audience(tuple(targets))
    if event_type == ALERT_ASSIGNED:
        return Audience(_people(_uuid(data.get("assignedTo"))))
    if event_type in INTERVENTION_STEPS:
        people = _people(_uuid(data.get("requestedBy")), _uuid(data.get("assignedTo")))
        if event_type == "intervention.requested":
            return Audience((*people, ProviderRoles(ANALYSTS)))
        return Audience(people)
    if event_type == SLA_BREACHED:
        return Audience((ProviderRoles(ANALYSTS | {Role.ACCOUNT_MANAGER}),))
    if event_type == REPORT_SUBMITTED:
        author = _uuid(data.get("generatedBy"))
        return Audience(
            (ProviderRoles(ANALYSTS),), excluded=frozenset({author} if author else set())
        )
    if event_type == REPORT_PUBLISHED:
        return NOBODY if org_id is None else Audience((OrgRoles(org_id, REPORT_READERS),))
    if event_type == WEBHOOK_DISABLED:
        return NOBODY if org_id is None else Audience((OrgRoles(org_id, frozenset({Role.ADMIN})),))
    return NOBODY
