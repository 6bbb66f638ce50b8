"""The user and organization projections: one version-guarded write each, for events and
for records fetched on a miss alike."""

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
from mss_contracts.internal import OrganizationRecord, UserRecord
from mss_db import UnitOfWork
from mss_notification.adapters.directory import Directory

DELETED = "deleted"


async def record_fetched_user(uow: UnitOfWork, user: UserRecord) -> None:
    await Directory(uow).upsert_user(
        user_id=user.id,
        org_id=user.organization_id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        role=user.role,
        status=user.status,
        version=user.version,
    )


async def record_fetched_org(uow: UnitOfWork, org: OrganizationRecord) -> None:
    await Directory(uow).upsert_org(
        org_id=org.id,
        type=org.type.value,
        status=org.status,
        settings=org.settings,
        version=org.version,
    )


async def record_directory_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """user.created|updated|deleted and organization.*: keep the newest state."""
    if envelope.type not in EVENT_TYPES or envelope.organization_id is None:
        return
    data = parse_data(envelope)
    directory = Directory(uow)
    version = envelope.metadata.version
    if isinstance(data, UserCreated | UserUpdated):
        await directory.upsert_user(
            user_id=envelope.aggregate_id,
            org_id=envelope.organization_id,
            email=data.email,
            first_name=data.first_name,
            last_name=data.last_name,
            role=data.role,
            status=data.status,
            version=version,
        )
    elif isinstance(data, UserDeleted):
        await directory.upsert_user(
            user_id=envelope.aggregate_id,
            org_id=envelope.organization_id,
            email=data.email,
            first_name="",
            last_name="",
            role=None,
            status=DELETED,
            version=version,
        )
    elif isinstance(data, OrganizationSnapshot):
        await directory.upsert_org(
            org_id=envelope.aggregate_id,
            type=data.type.value,
            status=data.status,
            settings=data.settings,
            version=version,
        )
