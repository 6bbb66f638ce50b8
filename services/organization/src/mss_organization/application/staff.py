"""The staff directory: who is a technician, kept from identity's user.* events and filled
from identity's `GET /internal/users/{id}` when a grant names a user it lacks."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import EventContext
from mss_contracts.internal import UserRecord
from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_organization.adapters.access import StaffDirectory
from mss_organization.application.technician_access import revoke_all_of
from mss_organization.domain.access import active_technician

INACTIVE = "inactive"


async def record_user(
    uow: UnitOfWork, *, user_id: UUID, org_id: UUID, role: Role | None, status: str, version: int
) -> bool:
    """Keep the user's state if newer than what the directory holds (True when kept): the
    directory's one write, for events and fetched records alike. `role` None (a deletion
    names no role) keeps the role already known."""
    return await StaffDirectory(uow).upsert(
        user_id=user_id, org_id=org_id, role=role, status=status, version=version
    )


async def record_fetched_user(uow: UnitOfWork, user: UserRecord) -> None:
    """A projection miss filled from identity (the directory only: events keep the effects)."""
    await record_user(
        uow,
        user_id=user.id,
        org_id=user.organization_id,
        role=user.role,
        status=user.status,
        version=user.version,
    )


async def apply_user_state(
    uow: UnitOfWork,
    *,
    user_id: UUID,
    org_id: UUID,
    role: Role | None,
    status: str,
    version: int,
    context: EventContext,
) -> None:
    """A user.* event: record the state; a user no longer an active technician loses every
    grant at once (access must not outlive the person's job).

    The grants end when this event is still the newest state known, whether this write kept
    it or a fetch kept the same version first; a newer state already held decides instead.
    """
    kept = await record_user(
        uow, user_id=user_id, org_id=org_id, role=role, status=status, version=version
    )
    # A deletion names no role but is never active, so the event alone tells.
    if active_technician(role, status):
        return
    if not kept and await StaffDirectory(uow).version_of(user_id) != version:
        return
    await revoke_all_of(
        user_id,
        by=context.user_id or user_id,
        reason="technician deactivated or no longer a technician",
        uow=uow,
        ctx=context,
    )
