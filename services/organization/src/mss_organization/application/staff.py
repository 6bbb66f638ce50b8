"""The staff directory: who is a technician, kept from identity's user.* events."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_organization.adapters.access import StaffDirectory

INACTIVE = "inactive"


async def record_user(
    uow: UnitOfWork,
    *,
    user_id: UUID,
    org_id: UUID,
    role: Role | None,
    status: str,
    version: int,
) -> bool:
    """Apply a user's state if newer than what the directory holds (True when applied).

    `role` None (a deletion names no role) keeps the role already known.
    """
    return await StaffDirectory(uow).upsert(
        user_id=user_id, org_id=org_id, role=role, status=status, version=version
    )
