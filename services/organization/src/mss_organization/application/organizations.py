"""Organization use cases: each opens one unit of work and commits state + events together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from mss_contracts.events import (
    EventContext,
    OrganizationCreated,
    OrganizationReactivated,
    OrganizationSuspended,
    OrganizationUpdated,
)
from mss_contracts.internal import OrganizationRecord
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import OrgSettings
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_organization.adapters.repository import OrganizationFilter, OrganizationRepository
from mss_organization.application.events import emit
from mss_organization.domain.errors import OrganizationNotFound
from mss_organization.domain.organization import Organization, OrganizationStatus


@dataclass(frozen=True, slots=True)
class CreateOrganization:
    name: str
    type: OrganizationType
    domain: str | None
    sso_enabled: bool
    settings: OrgSettings
    created_by: UUID | None


@dataclass(frozen=True, slots=True)
class UpdateOrganization:
    org_id: UUID
    changes: dict[str, Any]


def _snapshot(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "type": org.type,
        "domain": org.domain,
        "status": org.status.value,
        "sso_enabled": org.sso_enabled,
        "settings": org.settings,
    }


def organization_record(org: Organization) -> OrganizationRecord:
    """The organization as its events carry it, with its version (the internal read)."""
    return OrganizationRecord(id=org.id, version=org.version, **_snapshot(org))


async def create_organization(
    cmd: CreateOrganization, *, uow: UnitOfWork, ctx: EventContext
) -> Organization:
    now = datetime.now(UTC)
    org = Organization(
        id=uuid4(),
        name=cmd.name,
        type=cmd.type,
        domain=cmd.domain,
        sso_enabled=cmd.sso_enabled,
        status=OrganizationStatus.ACTIVE,
        settings=cmd.settings.model_dump(mode="json", by_alias=True),
        version=1,
        created_at=now,
        updated_at=now,
        created_by=cmd.created_by,
    )
    await OrganizationRepository(uow).add(org)
    await emit(uow, org, OrganizationCreated(**_snapshot(org)), ctx)
    await uow.commit()
    return org


async def _load_for_change(uow: UnitOfWork, org_id: UUID) -> Organization:
    org = await OrganizationRepository(uow).get(org_id, for_update=True)
    if org is None:
        raise OrganizationNotFound()
    return org


async def update_organization(
    cmd: UpdateOrganization, *, uow: UnitOfWork, ctx: EventContext
) -> Organization:
    org = (await _load_for_change(uow, cmd.org_id)).update(cmd.changes, datetime.now(UTC))
    if org.changed:
        await OrganizationRepository(uow).save(org)
        await emit(uow, org, OrganizationUpdated(**_snapshot(org), changed=list(org.changed)), ctx)
        await uow.commit()
    return org


async def suspend_organization(
    org_id: UUID, reason: str | None, *, uow: UnitOfWork, ctx: EventContext
) -> Organization:
    org = (await _load_for_change(uow, org_id)).suspend(datetime.now(UTC))
    await OrganizationRepository(uow).save(org)
    await emit(uow, org, OrganizationSuspended(**_snapshot(org), reason=reason), ctx)
    await uow.commit()
    return org


async def reactivate_organization(
    org_id: UUID, *, uow: UnitOfWork, ctx: EventContext
) -> Organization:
    org = (await _load_for_change(uow, org_id)).reactivate(datetime.now(UTC))
    await OrganizationRepository(uow).save(org)
    await emit(uow, org, OrganizationReactivated(**_snapshot(org)), ctx)
    await uow.commit()
    return org


async def get_organization(org_id: UUID, *, uow: UnitOfWork) -> Organization:
    org = await OrganizationRepository(uow).get(org_id)
    if org is None:
        raise OrganizationNotFound()
    return org


async def list_organizations(
    where: OrganizationFilter, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[Organization], int]:
    return await OrganizationRepository(uow).list(where, offset=offset, limit=limit)


async def ensure_provider_organization(
    name: str, *, uow_factory: UnitOfWorkFactory
) -> Organization:
    """Bootstrap: the one `mss_provider` organization, created once."""
    async with uow_factory(OrgScope.everything()) as uow:
        existing = await OrganizationRepository(uow).provider()
        if existing is not None:
            return existing
        return await create_organization(
            CreateOrganization(
                name=name,
                type=OrganizationType.MSS_PROVIDER,
                domain=None,
                sso_enabled=False,
                settings=OrgSettings(mfa_required=False),
                created_by=None,
            ),
            uow=uow,
            ctx=EventContext(),
        )
