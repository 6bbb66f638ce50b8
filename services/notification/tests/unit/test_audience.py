"""Who is told (API.md "Notifications"): one table of event → audience, before preferences."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mss_contracts.permissions import Role
from mss_notification.domain.audience import (
    NOBODY,
    Audience,
    OrgRoles,
    Person,
    ProviderRoles,
    who_is_told,
)

ORG = uuid.uuid4()
ASSIGNEE, REQUESTER, TECH, AUTHOR = (uuid.uuid4() for _ in range(4))
ANALYSTS = ProviderRoles(frozenset({Role.SECURITY_ANALYST}))
ADMINS_AND_VIEWERS = OrgRoles(ORG, frozenset({Role.ADMIN, Role.REPORT_VIEWER}))

CASES: list[tuple[str, str, dict[str, Any], Audience]] = [
    ("alert below the org minimum", "security.alert.created", {"severity": "medium"}, NOBODY),
    (
        "alert at the org minimum",
        "security.alert.created",
        {"severity": "high"},
        Audience((ADMINS_AND_VIEWERS,)),
    ),
    (
        "critical alert also to analysts",
        "security.alert.created",
        {"severity": "critical"},
        Audience((ADMINS_AND_VIEWERS, ANALYSTS)),
    ),
    (
        "assignment to the assignee",
        "security.alert.assigned",
        {"assignedTo": str(ASSIGNEE)},
        Audience((Person(ASSIGNEE),)),
    ),
    ("unassignment to nobody", "security.alert.assigned", {"assignedTo": None}, NOBODY),
    ("acknowledgement to nobody", "security.alert.acknowledged", {}, NOBODY),
    (
        "requested: requester and analysts",
        "intervention.requested",
        {"requestedBy": str(REQUESTER)},
        Audience((Person(REQUESTER), ANALYSTS)),
    ),
    (
        "a step: requester and technician",
        "intervention.started",
        {"requestedBy": str(REQUESTER), "assignedTo": str(TECH)},
        Audience((Person(REQUESTER), Person(TECH))),
    ),
    (
        "a work-log entry: nobody",
        "intervention.work_logged",
        {"requestedBy": str(REQUESTER)},
        NOBODY,
    ),
    (
        "SLA breach: analysts and account managers",
        "intervention.sla.breached",
        {"requestedBy": str(REQUESTER)},
        Audience((ProviderRoles(frozenset({Role.SECURITY_ANALYST, Role.ACCOUNT_MANAGER})),)),
    ),
    (
        "report in review: analysts but its author",
        "security.report.submitted",
        {"generatedBy": str(AUTHOR)},
        Audience((ANALYSTS,), excluded=frozenset({AUTHOR})),
    ),
    (
        "report published: admin, report viewer, request user",
        "security.report.published",
        {"generatedBy": str(AUTHOR)},
        Audience((OrgRoles(ORG, frozenset({Role.ADMIN, Role.REPORT_VIEWER, Role.REQUEST_USER})),)),
    ),
    (
        "webhook disabled: the org's admins",
        "webhook.disabled",
        {},
        Audience((OrgRoles(ORG, frozenset({Role.ADMIN})),)),
    ),
    ("an event nobody is told of", "user.created", {}, NOBODY),
]


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_who_is_told(event_type: str, data: dict[str, Any], expected: Audience) -> None:
    assert who_is_told(event_type, org_id=ORG, data=data, min_alert_severity="high") == expected


def test_a_lower_org_minimum_tells_of_lower_alerts() -> None:
    audience = who_is_told(
        "security.alert.created", org_id=ORG, data={"severity": "low"}, min_alert_severity="low"
    )
    assert audience == Audience((ADMINS_AND_VIEWERS,))
