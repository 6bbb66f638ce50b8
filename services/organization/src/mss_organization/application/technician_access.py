"""Technician access use cases: grant, list, revoke, and the expiry sweep.

Ending a grant (revoked or expired) ends its open remote access sessions in the same
transaction, each with its own `remote_access.session.ended` event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_contracts.access import AccessLevel, GrantStatus, GrantTerms
from mss_contracts.events import (
    EventContext,
    EventEnvelope,
    TechnicianAccessExpired,
    TechnicianAccessGranted,
    TechnicianAccessRevoked,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_organization.adapters.access import (
    GrantFilter,
    GrantRepository,
    RemoteSessionRepository,
    StaffDirectory,
)
from mss_organization.adapters.repository import OrganizationRepository
from mss_organization.application.events import emit
from mss_organization.application.remote_access import record_end
from mss_organization.domain.access import TechnicianAccess, check_new_grant
from mss_organization.domain.errors import GrantNotFound, OrganizationNotFound

log = logging.getLogger("mss.organization.grants")

EXPIRY_BATCH = 100


@dataclass(frozen=True, slots=True)
class GrantTechnicianAccess:
    org_id: UUID
    technician_id: UUID
    access_level: AccessLevel
    terms: GrantTerms
    notes: str | None
    granted_by: UUID


async def grant_technician_access(
    cmd: GrantTechnicianAccess, *, uow: UnitOfWork, ctx: EventContext
) -> TechnicianAccess:
    """Open a customer organization to an active technician until `expiresAt`."""
    now = datetime.now(UTC)
    org = await OrganizationRepository(uow).get(cmd.org_id)
    if org is None:
        raise OrganizationNotFound()
    technician = await StaffDirectory(uow).technician(cmd.technician_id)
    check_new_grant(
        org_type=org.type, technician=technician, expires_at=cmd.terms.expires_at, now=now
    )
    terms = cmd.terms
    grant = TechnicianAccess(
        id=uuid4(),
        org_id=org.id,
        technician_id=cmd.technician_id,
        access_level=cmd.access_level,
        granted_by=cmd.granted_by,
        granted_at=now,
        expires_at=terms.expires_at,
        allowed_services=tuple(terms.allowed_services),
        ip_restrictions=tuple(terms.ip_restrictions),
        time_restrictions=terms.time_restrictions,
        status=GrantStatus.ACTIVE,
        notes=cmd.notes,
        version=1,
    )
    await GrantRepository(uow).add(grant)
    await emit(
        uow,
        grant,
        TechnicianAccessGranted(
            expires_at=grant.expires_at,
            allowed_services=list(grant.allowed_services),
            ip_restrictions=list(grant.ip_restrictions),
            time_restrictions=grant.time_restrictions,
            technician_id=grant.technician_id,
            access_level=grant.access_level,
            granted_by=grant.granted_by,
            notes=grant.notes,
        ),
        ctx,
    )
    await uow.commit()
    return grant


async def list_grants(
    where: GrantFilter, *, now: datetime, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[TechnicianAccess], int]:
    return await GrantRepository(uow).list(where, now=now, offset=offset, limit=limit)


async def grants_of(technician_id: UUID, *, uow: UnitOfWork) -> list[TechnicianAccess]:
    """Every grant of the technician, in any state (what other services project)."""
    return await GrantRepository(uow).all_of(technician_id)


async def list_organization_grants(
    org_id: UUID, where: GrantFilter, *, now: datetime, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[TechnicianAccess], int]:
    """The grants of one organization the caller can see (404 for any other)."""
    if await OrganizationRepository(uow).get(org_id) is None:
        raise OrganizationNotFound()
    return await list_grants(where, now=now, offset=offset, limit=limit, uow=uow)


async def revoke_technician_access(
    grant_id: UUID, *, by: UUID, reason: str, uow: UnitOfWork, ctx: EventContext
) -> TechnicianAccess:
    """End an active grant now, and every remote session opened under it."""
    grant = await GrantRepository(uow).get(grant_id, for_update=True)
    if grant is None:
        raise GrantNotFound()
    revoked = await _revoke(uow, grant, by=by, reason=reason, now=datetime.now(UTC), ctx=ctx)
    await uow.commit()
    return revoked


async def revoke_all_of(
    technician_id: UUID, *, by: UUID, reason: str, uow: UnitOfWork, ctx: EventContext
) -> int:
    """End every active grant of a technician (one no longer active); the caller commits."""
    now = datetime.now(UTC)
    grants = await GrantRepository(uow).all_active_of(technician_id)
    for grant in grants:
        await _revoke(uow, grant, by=by, reason=reason, now=now, ctx=ctx)
    return len(grants)


async def _revoke(
    uow: UnitOfWork,
    grant: TechnicianAccess,
    *,
    by: UUID,
    reason: str,
    now: datetime,
    ctx: EventContext,
) -> TechnicianAccess:
    revoked = grant.revoke(by=by, reason=reason, now=now)
    await GrantRepository(uow).save(revoked)
    cause = await emit(
        uow,
        revoked,
        TechnicianAccessRevoked(technician_id=revoked.technician_id, revoked_by=by, reason=reason),
        ctx,
    )
    await _end_sessions(
        uow, [revoked], by=by, reason="grant revoked", now=now, ctx=ctx, cause=cause
    )
    return revoked


async def _end_sessions(
    uow: UnitOfWork,
    grants: Sequence[TechnicianAccess],
    *,
    by: UUID | None,
    reason: str,
    now: datetime,
    ctx: EventContext,
    cause: EventEnvelope | None,
) -> None:
    context = ctx.model_copy(update={"causation_id": cause.id}) if cause else ctx
    for session in await RemoteSessionRepository(uow).active_in_grants([g.id for g in grants]):
        await record_end(uow, session, by=by, reason=reason, now=now, ctx=context)


async def expire_due_grants(
    uow_factory: UnitOfWorkFactory, *, now: datetime | None = None, batch: int = EXPIRY_BATCH
) -> int:
    """Mark active grants past their expiry as expired (one batch); returns how many.

    The rows are locked with SKIP LOCKED: two workers sweeping at once never expire (and
    announce) the same grant twice.
    """
    moment = now or datetime.now(UTC)
    async with uow_factory(OrgScope.everything()) as uow:
        repo = GrantRepository(uow)
        due = await repo.due_for_expiry(moment, limit=batch)
        for grant in due:
            expired = grant.expire(moment)
            await repo.save(expired)
            ctx = EventContext()
            cause = await emit(
                uow,
                expired,
                TechnicianAccessExpired(
                    technician_id=expired.technician_id, expires_at=expired.expires_at
                ),
                ctx,
            )
            await _end_sessions(
                uow, [expired], by=None, reason="grant expired", now=moment, ctx=ctx, cause=cause
            )
        await uow.commit()
    return len(due)


async def sweep_expired_grants(uow_factory: UnitOfWorkFactory, *, interval_s: float = 1.0) -> None:
    """Run the expiry sweep until cancelled: at once while batches are full, else each interval."""
    while True:
        try:
            expired = await expire_due_grants(uow_factory)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("grant expiry sweep failed; retrying")
            expired = 0
        if expired < EXPIRY_BATCH:
            await asyncio.sleep(interval_s)
