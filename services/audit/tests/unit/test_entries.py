"""What the audit log says of a denied action: a failure, with a message a person can read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from mss_audit.domain.entries import entry_for
from mss_contracts.api import ErrorCode
from mss_contracts.events import AccessDenied, EventContext, new_event
from mss_contracts.permissions import Role


def _denied(count: int) -> tuple[AccessDenied, uuid.UUID, uuid.UUID]:
    actor, org = uuid.uuid4(), uuid.uuid4()
    first = datetime(2030, 1, 1, tzinfo=UTC)
    data = AccessDenied(
        action="GET /api/users/{id}",
        status=404,
        code=ErrorCode.NOT_FOUND,
        reason="Resource not found",
        actor_role=Role.ADMIN,
        count=count,
        first_at=first,
        last_at=first + timedelta(seconds=9),
    )
    return data, actor, org


def test_a_denial_is_a_failed_entry_of_the_actors_org_naming_route_status_and_count() -> None:
    data, actor, org = _denied(30)
    envelope = new_event(
        data,
        aggregate_id=actor,
        organization_id=org,
        version=1,
        context=EventContext(user_id=actor, ip_address="203.0.113.9"),
    )
    entry = entry_for(envelope)
    assert entry.success is False
    assert entry.action == "access.denied"
    assert entry.org_id == org
    assert entry.user_id == actor
    assert (entry.resource_type, entry.resource_id) == ("user", actor)
    assert entry.ip_address == "203.0.113.9"
    assert entry.error_message == (
        "404 NOT_FOUND on GET /api/users/{id}: Resource not found (30 times)"
    )
    assert entry.details["data"]["count"] == 30


def test_a_single_denial_says_no_count() -> None:
    data, actor, org = _denied(1)
    envelope = new_event(
        data, aggregate_id=actor, organization_id=org, version=1, context=EventContext()
    )
    assert entry_for(envelope).error_message == (
        "404 NOT_FOUND on GET /api/users/{id}: Resource not found"
    )
