"""Keep the user and organization directories in step with identity and organization."""

from __future__ import annotations

from mss_contracts.events import (
    EVENT_TYPES,
    EventEnvelope,
    OrganizationSnapshot,
    UserCreated,
    UserDeleted,
    UserUpdated,
    parse_data,
)
from mss_db import UnitOfWork
from mss_security.application.directories import record_organization, record_user

BINDINGS = ["user.*", "organization.*"]
INACTIVE = "inactive"


async def on_directory_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Effect for `apply_once`: the newest version of a user or an organization wins."""
    if envelope.type not in EVENT_TYPES or envelope.organization_id is None:
        return  # a newer event type than this build knows, or not about one organization
    data = parse_data(envelope)
    version = envelope.metadata.version
    if isinstance(data, OrganizationSnapshot):
        await record_organization(
            uow,
            org_id=envelope.aggregate_id,
            type=data.type.value,
            status=data.status,
            settings=data.settings,
            version=version,
            name=data.name,
        )
    elif isinstance(data, UserCreated | UserUpdated):
        await record_user(
            uow,
            user_id=envelope.aggregate_id,
            org_id=envelope.organization_id,
            role=data.role,
            status=data.status,
            version=version,
        )
    elif isinstance(data, UserDeleted):
        await record_user(
            uow,
            user_id=envelope.aggregate_id,
            org_id=envelope.organization_id,
            role=None,
            status=INACTIVE,
            version=version,
        )
