"""Technician access grants, remote access sessions and the staff directory in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, Row, Select, and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mss_contracts.access import AccessLevel, GrantStatus, TimeRestrictions
from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_organization.adapters.tables import (
    remote_access_sessions,
    staff_directory,
    technician_access,
)
from mss_organization.domain.access import (
    RemoteAccessSession,
    SessionStatus,
    StaffMember,
    TechnicianAccess,
)

T = TypeVar("T")

# --- grants -----------------------------------------------------------------------------


def _grant(row: Row[Any]) -> TechnicianAccess:
    window = row.time_restrictions
    return TechnicianAccess(
        id=row.id,
        org_id=row.org_id,
        technician_id=row.technician_id,
        access_level=AccessLevel(row.access_level),
        granted_by=row.granted_by,
        granted_at=row.granted_at,
        expires_at=row.expires_at,
        allowed_services=tuple(row.allowed_services),
        ip_restrictions=tuple(row.ip_restrictions),
        time_restrictions=TimeRestrictions.model_validate(window) if window else None,
        status=GrantStatus(row.status),
        notes=row.notes,
        version=row.version,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoked_reason=row.revoked_reason,
    )


def _grant_columns(grant: TechnicianAccess) -> dict[str, Any]:
    return {
        "id": grant.id,
        "org_id": grant.org_id,
        "technician_id": grant.technician_id,
        "access_level": grant.access_level.value,
        "granted_by": grant.granted_by,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
        "revoked_by": grant.revoked_by,
        "revoked_reason": grant.revoked_reason,
        "allowed_services": list(grant.allowed_services),
        "ip_restrictions": list(grant.ip_restrictions),
        "time_restrictions": (
            grant.time_restrictions.model_dump(by_alias=True) if grant.time_restrictions else None
        ),
        "status": grant.status.value,
        "notes": grant.notes,
        "version": grant.version,
    }


@dataclass(frozen=True, slots=True)
class GrantFilter:
    """`status` is the effective one: an active grant past its expiry counts as expired."""

    org_id: UUID | None = None
    technician_id: UUID | None = None
    status: GrantStatus | None = None


def _status_is(status: GrantStatus, now: datetime) -> ColumnElement[bool]:
    t = technician_access.c
    if status is GrantStatus.ACTIVE:
        return and_(t.status == GrantStatus.ACTIVE.value, t.expires_at > now)
    if status is GrantStatus.EXPIRED:
        return or_(
            t.status == GrantStatus.EXPIRED.value,
            and_(t.status == GrantStatus.ACTIVE.value, t.expires_at <= now),
        )
    return t.status == status.value


class GrantRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, grant: TechnicianAccess) -> None:
        await self._conn.execute(insert(technician_access).values(**_grant_columns(grant)))

    async def save(self, grant: TechnicianAccess) -> None:
        values = _grant_columns(grant)
        del values["id"]
        await self._conn.execute(
            update(technician_access).where(technician_access.c.id == grant.id).values(**values)
        )

    async def get(self, grant_id: UUID, *, for_update: bool = False) -> TechnicianAccess | None:
        query = select(technician_access).where(technician_access.c.id == grant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _grant(row) if row else None

    async def active_for(self, *, technician_id: UUID, org_id: UUID) -> list[TechnicianAccess]:
        """The technician's active grants on the org, share-locked so a revoke waits for us."""
        t = technician_access.c
        query = (
            select(technician_access)
            .where(
                t.technician_id == technician_id,
                t.org_id == org_id,
                t.status == GrantStatus.ACTIVE.value,
            )
            .order_by(t.expires_at.desc(), t.id)
            .with_for_update(read=True)
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def all_active_of(self, technician_id: UUID) -> list[TechnicianAccess]:
        """Every active grant of the technician, in any organization, locked for update."""
        t = technician_access.c
        query = (
            select(technician_access)
            .where(t.technician_id == technician_id, t.status == GrantStatus.ACTIVE.value)
            .order_by(t.id)
            .with_for_update()
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def due_for_expiry(self, now: datetime, *, limit: int) -> list[TechnicianAccess]:
        """Active grants past their expiry, locked; rows another worker holds are skipped."""
        t = technician_access.c
        query = (
            select(technician_access)
            .where(t.status == GrantStatus.ACTIVE.value, t.expires_at <= now)
            .order_by(t.expires_at, t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def list(
        self, where: GrantFilter, *, now: datetime, offset: int, limit: int
    ) -> tuple[list[TechnicianAccess], int]:
        t = technician_access.c
        conditions: list[ColumnElement[bool]] = []
        if where.org_id is not None:
            conditions.append(t.org_id == where.org_id)
        if where.technician_id is not None:
            conditions.append(t.technician_id == where.technician_id)
        if where.status is not None:
            conditions.append(_status_is(where.status, now))
        return await _page(
            self._conn,
            select(technician_access).where(*conditions).order_by(t.granted_at.desc(), t.id),
            select(func.count()).select_from(technician_access).where(*conditions),
            offset=offset,
            limit=limit,
            convert=_grant,
        )


# --- remote access sessions -------------------------------------------------------------


def _session(row: Row[Any]) -> RemoteAccessSession:
    return RemoteAccessSession(
        id=row.id,
        org_id=row.org_id,
        technician_id=row.technician_id,
        grant_id=row.grant_id,
        service=row.service,
        justification=row.justification,
        intervention_id=row.intervention_id,
        client_ip=row.client_ip,
        status=SessionStatus(row.status),
        started_at=row.started_at,
        version=row.version,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        ended_reason=row.ended_reason,
    )


def _session_columns(session: RemoteAccessSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "org_id": session.org_id,
        "technician_id": session.technician_id,
        "grant_id": session.grant_id,
        "service": session.service,
        "justification": session.justification,
        "intervention_id": session.intervention_id,
        "client_ip": session.client_ip,
        "status": session.status.value,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "ended_by": session.ended_by,
        "ended_reason": session.ended_reason,
        "version": session.version,
    }


@dataclass(frozen=True, slots=True)
class SessionFilter:
    org_id: UUID | None = None
    technician_id: UUID | None = None
    status: SessionStatus | None = None


class RemoteSessionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, session: RemoteAccessSession) -> None:
        await self._conn.execute(insert(remote_access_sessions).values(**_session_columns(session)))

    async def save(self, session: RemoteAccessSession) -> None:
        values = _session_columns(session)
        del values["id"]
        await self._conn.execute(
            update(remote_access_sessions)
            .where(remote_access_sessions.c.id == session.id)
            .values(**values)
        )

    async def get(
        self, session_id: UUID, *, for_update: bool = False
    ) -> RemoteAccessSession | None:
        query = select(remote_access_sessions).where(remote_access_sessions.c.id == session_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _session(row) if row else None

    async def active_in_grants(self, grant_ids: Sequence[UUID]) -> list[RemoteAccessSession]:
        """The active sessions opened under these grants, locked for ending."""
        if not grant_ids:
            return []
        s = remote_access_sessions.c
        query = (
            select(remote_access_sessions)
            .where(s.grant_id.in_(list(grant_ids)), s.status == SessionStatus.ACTIVE.value)
            .order_by(s.started_at, s.id)
            .with_for_update()
        )
        return [_session(row) for row in (await self._conn.execute(query)).all()]

    async def list(
        self, where: SessionFilter, *, offset: int, limit: int
    ) -> tuple[list[RemoteAccessSession], int]:
        s = remote_access_sessions.c
        conditions: list[ColumnElement[bool]] = []
        if where.org_id is not None:
            conditions.append(s.org_id == where.org_id)
        if where.technician_id is not None:
            conditions.append(s.technician_id == where.technician_id)
        if where.status is not None:
            conditions.append(s.status == where.status.value)
        return await _page(
            self._conn,
            select(remote_access_sessions).where(*conditions).order_by(s.started_at.desc(), s.id),
            select(func.count()).select_from(remote_access_sessions).where(*conditions),
            offset=offset,
            limit=limit,
            convert=_session,
        )


# --- staff directory ----------------------------------------------------------------------


class StaffDirectory:
    """Identity's users as far as access grants care: organization, role and status."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def get(self, user_id: UUID) -> StaffMember | None:
        row = (
            await self._conn.execute(
                select(staff_directory).where(staff_directory.c.user_id == user_id)
            )
        ).first()
        if row is None:
            return None
        return StaffMember(
            user_id=row.user_id,
            org_id=row.org_id,
            role=Role(row.role) if row.role else None,
            status=row.status,
            version=row.version,
        )

    async def upsert(
        self, *, user_id: UUID, org_id: UUID, role: Role | None, status: str, version: int
    ) -> bool:
        """Keep the newest version only (True when applied); a missing role keeps the known one."""
        statement = pg_insert(staff_directory).values(
            user_id=user_id,
            org_id=org_id,
            role=role.value if role else None,
            status=status,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[staff_directory.c.user_id],
            set_={
                "org_id": statement.excluded.org_id,
                "role": func.coalesce(statement.excluded.role, staff_directory.c.role),
                "status": statement.excluded.status,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=staff_directory.c.version < statement.excluded.version,
        )
        applied = await self._conn.execute(statement.returning(staff_directory.c.user_id))
        return applied.first() is not None


async def _page(
    conn: AsyncConnection,
    rows_query: Select[Any],
    count_query: Select[Any],
    *,
    offset: int,
    limit: int,
    convert: Callable[[Row[Any]], T],
) -> tuple[list[T], int]:
    total = (await conn.execute(count_query)).scalar_one()
    rows = (await conn.execute(rows_query.offset(offset).limit(limit))).all()
    return [convert(row) for row in rows], total
