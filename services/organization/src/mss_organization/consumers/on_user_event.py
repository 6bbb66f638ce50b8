"""Keep the staff directory in step with identity's users (grants need active technicians)."""

from __future__ import annotations

from mss_contracts.events import (
    EVENT_TYPES,
    EventContext,
    EventEnvelope,
    UserCreated,
    UserDeleted,
    UserUpdated,
    parse_data,
)
from mss_db import UnitOfWork
from mss_organization.application.staff import INACTIVE, apply_user_state

BINDINGS = ["user.*"]


async def on_user_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Effect for `apply_once`: user.created / user.updated / user.deleted, newest version wins."""
    if envelope.type not in EVENT_TYPES or envelope.organization_id is None:
        return  # a newer event type than this build knows, or not about one organization
    data = parse_data(envelope)
    if isinstance(data, UserCreated | UserUpdated):
        role, status = data.role, data.status
    elif isinstance(data, UserDeleted):
        role, status = None, INACTIVE
    else:
        return  # user.invited and the like change nothing the directory holds
    await apply_user_state(
        uow,
        user_id=envelope.aggregate_id,
        org_id=envelope.organization_id,
        role=role,
        status=status,
        version=envelope.metadata.version,
        context=EventContext(
            user_id=envelope.metadata.user_id,
            correlation_id=envelope.metadata.correlation_id,
            causation_id=envelope.id,
        ),
    )
