"""The user and organization directories' one write each, for events and fetched records."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from mss_contracts.internal import OrganizationRecord, UserRecord
from mss_contracts.permissions import Role
from mss_contracts.settings import settings_of
from mss_db import UnitOfWork
from mss_security.adapters.directories import OrgDirectory, UserDirectory


async def record_user(
    uow: UnitOfWork, *, user_id: UUID, org_id: UUID, role: Role | None, status: str, version: int
) -> bool:
    """Keep the user's state if newer than what the directory holds (True when kept)."""
    return await UserDirectory(uow).upsert(
        user_id=user_id, org_id=org_id, role=role, status=status, version=version
    )


async def record_fetched_user(uow: UnitOfWork, user: UserRecord) -> None:
    """A projection miss filled from identity's `GET /internal/users/{id}`."""
    await record_user(
        uow,
        user_id=user.id,
        org_id=user.organization_id,
        role=user.role,
        status=user.status,
        version=user.version,
    )


async def record_organization(
    uow: UnitOfWork,
    *,
    org_id: UUID,
    type: str,
    status: str,
    settings: dict[str, Any],
    version: int,
    name: str = "",
) -> bool:
    """Keep the organization's state if newer (True when kept); the quota from its settings."""
    return await OrgDirectory(uow).upsert(
        org_id=org_id,
        type=type,
        status=status,
        alert_quota_per_minute=settings_of(settings).alert_quota_per_minute,
        version=version,
        name=name,
    )


async def record_fetched_organization(uow: UnitOfWork, org: OrganizationRecord) -> None:
    """A projection miss filled from the organization service's internal read."""
    await record_organization(
        uow,
        org_id=org.id,
        type=org.type.value,
        status=org.status,
        settings=org.settings,
        version=org.version,
        name=org.name,
    )
