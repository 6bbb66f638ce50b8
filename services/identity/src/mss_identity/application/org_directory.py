"""Identity's organization directory: the organization service's organizations, as far as
logins, sessions and invitations need them (type, status, MFA and session settings)."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import OrganizationSnapshot
from mss_contracts.internal import OrganizationRecord
from mss_db import UnitOfWork
from mss_identity.adapters.repository import IdentityRepository


async def record_organization(
    uow: UnitOfWork, org_id: UUID, state: OrganizationSnapshot, version: int
) -> bool:
    """Keep `state` if newer than what the directory holds (True when kept): the one
    write of the directory, for organization.* events and fetched records alike."""
    return await IdentityRepository(uow).upsert_org(
        org_id=org_id,
        name=state.name,
        type=state.type.value,
        status=state.status,
        settings=state.settings,
        version=version,
    )


async def record_fetched_organization(uow: UnitOfWork, record: OrganizationRecord) -> None:
    """A projection miss filled from `GET /internal/organizations/{id}`."""
    await record_organization(uow, record.id, record, record.version)
