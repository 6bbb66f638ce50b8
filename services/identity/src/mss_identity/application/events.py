"""Events about a user: the envelope carries the user as aggregate, its org and version."""

from __future__ import annotations

from mss_contracts.events import EventContext, EventData, EventEnvelope, UserUpdated, new_event
from mss_identity.domain.users import User


def user_event(user: User, data: EventData, ctx: EventContext) -> EventEnvelope:
    return new_event(
        data,
        aggregate_id=user.id,
        organization_id=user.org_id,
        version=user.version,
        context=ctx,
    )


def user_updated(user: User, changed: list[str], ctx: EventContext) -> EventEnvelope:
    """user.updated with the user as it is now, naming the fields that changed."""
    return user_event(
        user,
        UserUpdated(
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            role=user.role,
            status=user.status.value,
            changed=changed,
        ),
        ctx,
    )
