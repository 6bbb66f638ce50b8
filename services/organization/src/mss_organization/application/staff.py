"""The staff directory: who is a technician, kept from identity's user.* events."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import EventContext
from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_organization.adapters.access import StaffDirectory
from mss_organization.application.technician_access import revoke_all_of
from mss_organization.domain.access import active_technician

INACTIVE = "inactive"


async def record_user(
    uow: UnitOfWork,
    *,
    user_id: UUID,
    org_id: UUID,
    role: Role | None,
    status: str,
    version: int,
    context: EventContext,
) -> bool:
    """Apply a user's state if newer than what the directory holds (True when applied).

    `role` None (a deletion names no role) keeps the role already known. A user who is
    no longer an active technician loses every grant at once: access must not outlive
    the person's job.
    """
    applied = await StaffDirectory(uow).upsert(
        user_id=user_id, org_id=org_id, role=role, status=status, version=version
    )
    # A deletion names no role but is never active, so the event alone tells.
    if applied and not active_technician(role, status):
        await revoke_all_of(
            user_id,
            by=context.user_id or user_id,
            reason="technician deactivated or no longer a technician",
            uow=uow,
            ctx=context,
        )
    return applied
