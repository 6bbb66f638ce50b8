"""Remote access session use cases: start inside an admitting grant, list, end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_contracts.events import (
    EventContext,
    RemoteAccessEnded,
    RemoteAccessStarted,
)
from mss_db import UnitOfWork
from mss_organization.adapters.access import (
    GrantRepository,
    RemoteSessionRepository,
    SessionFilter,
)
from mss_organization.application.events import emit
from mss_organization.domain.access import RemoteAccessSession, SessionStatus, admitting_grant
from mss_organization.domain.errors import RemoteSessionNotFound


@dataclass(frozen=True, slots=True)
class StartRemoteAccess:
    org_id: UUID
    technician_id: UUID
    service: str
    justification: str
    intervention_id: UUID | None
    client_ip: str | None


async def start_remote_access(
    cmd: StartRemoteAccess, *, uow: UnitOfWork, ctx: EventContext
) -> RemoteAccessSession:
    """Open a session under the first of the caller's grants that admits it now.

    The grants are read FOR SHARE: a concurrent revoke waits for this session to commit
    (and then ends it), or commits first and this request finds no active grant.
    """
    now = datetime.now(UTC)
    grants = await GrantRepository(uow).active_for(
        technician_id=cmd.technician_id, org_id=cmd.org_id
    )
    grant = admitting_grant(grants, now=now, ip=cmd.client_ip, service=cmd.service)
    session = RemoteAccessSession(
        id=uuid4(),
        org_id=grant.org_id,
        technician_id=cmd.technician_id,
        grant_id=grant.id,
        service=cmd.service,
        justification=cmd.justification,
        intervention_id=cmd.intervention_id,
        client_ip=cmd.client_ip,
        status=SessionStatus.ACTIVE,
        started_at=now,
        version=1,
    )
    await RemoteSessionRepository(uow).add(session)
    await emit(
        uow,
        session,
        RemoteAccessStarted(
            technician_id=session.technician_id,
            grant_id=session.grant_id,
            service=session.service,
            justification=session.justification,
            intervention_id=session.intervention_id,
        ),
        ctx,
    )
    await uow.commit()
    return session


async def list_remote_sessions(
    where: SessionFilter, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[RemoteAccessSession], int]:
    return await RemoteSessionRepository(uow).list(where, offset=offset, limit=limit)


async def end_remote_access(
    session_id: UUID,
    *,
    by: UUID,
    may_end_any: bool,
    reason: str | None,
    uow: UnitOfWork,
    ctx: EventContext,
) -> RemoteAccessSession:
    """The session's own technician (or, `may_end_any`, an administrator) ends it."""
    repo = RemoteSessionRepository(uow)
    session = await repo.get(session_id, for_update=True)
    if session is None or not (may_end_any or session.technician_id == by):
        raise RemoteSessionNotFound()
    ended = await record_end(uow, session, by=by, reason=reason, now=datetime.now(UTC), ctx=ctx)
    await uow.commit()
    return ended


async def record_end(
    uow: UnitOfWork,
    session: RemoteAccessSession,
    *,
    by: UUID | None,
    reason: str | None,
    now: datetime,
    ctx: EventContext,
) -> RemoteAccessSession:
    """End the session and announce it; the caller commits."""
    ended = session.end(by=by, reason=reason, now=now)
    await RemoteSessionRepository(uow).save(ended)
    await emit(
        uow,
        ended,
        RemoteAccessEnded(
            technician_id=ended.technician_id,
            grant_id=ended.grant_id,
            service=ended.service,
            ended_by=by,
            reason=reason,
            intervention_id=ended.intervention_id,
            started_at=ended.started_at,
        ),
        ctx,
    )
    return ended
