"""Technician access grants, remote access sessions and the staff directory in PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, Row, Select, and_, func, insert, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from mss_contracts.access import AccessLevel, GrantStatus, TimeRestrictions
from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_db.pages import fetch_page
from mss_organization.adapters.tables import (
    RemoteAccessSessionRow,
    StaffDirectoryRow,
    TechnicianAccessRow,
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
    state, expires_at = col(TechnicianAccessRow.status), col(TechnicianAccessRow.expires_at)
    if status is GrantStatus.ACTIVE:
        return and_(state == GrantStatus.ACTIVE.value, expires_at > now)
    if status is GrantStatus.EXPIRED:
        return or_(
            state == GrantStatus.EXPIRED.value,
            and_(state == GrantStatus.ACTIVE.value, expires_at <= now),
        )
    return state == status.value


class GrantRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(self, grant: TechnicianAccess) -> None:
        await self._conn.execute(insert(TechnicianAccessRow).values(**_grant_columns(grant)))

    async def save(self, grant: TechnicianAccess) -> None:
        values = _grant_columns(grant)
        del values["id"]
        await self._conn.execute(
            update(TechnicianAccessRow)
            .where(col(TechnicianAccessRow.id) == grant.id)
            .values(**values)
        )

    async def get(self, grant_id: UUID, *, for_update: bool = False) -> TechnicianAccess | None:
        query = select(TechnicianAccessRow).where(col(TechnicianAccessRow.id) == grant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _grant(row) if row else None

    async def active_for(self, *, technician_id: UUID, org_id: UUID) -> list[TechnicianAccess]:
        """The technician's active grants on the org, share-locked so a revoke waits for us."""
        query = (
            select(TechnicianAccessRow)
            .where(
                col(TechnicianAccessRow.technician_id) == technician_id,
                col(TechnicianAccessRow.org_id) == org_id,
                col(TechnicianAccessRow.status) == GrantStatus.ACTIVE.value,
            )
            .order_by(col(TechnicianAccessRow.expires_at).desc(), col(TechnicianAccessRow.id))
            .with_for_update(read=True)
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def all_of(self, technician_id: UUID) -> list[TechnicianAccess]:
        """Every grant of the technician, in any state and organization, oldest first."""
        query = (
            select(TechnicianAccessRow)
            .where(col(TechnicianAccessRow.technician_id) == technician_id)
            .order_by(col(TechnicianAccessRow.granted_at), col(TechnicianAccessRow.id))
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def all_active_of(self, technician_id: UUID) -> list[TechnicianAccess]:
        """Every active grant of the technician, in any organization, locked for update."""
        query = (
            select(TechnicianAccessRow)
            .where(
                col(TechnicianAccessRow.technician_id) == technician_id,
                col(TechnicianAccessRow.status) == GrantStatus.ACTIVE.value,
            )
            .order_by(col(TechnicianAccessRow.id))
            .with_for_update()
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def due_for_expiry(self, now: datetime, *, limit: int) -> list[TechnicianAccess]:
        """Active grants past their expiry, locked; rows another worker holds are skipped."""
        query = (
            select(TechnicianAccessRow)
            .where(
                col(TechnicianAccessRow.status) == GrantStatus.ACTIVE.value,
                col(TechnicianAccessRow.expires_at) <= now,
            )
            .order_by(col(TechnicianAccessRow.expires_at), col(TechnicianAccessRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_grant(row) for row in (await self._conn.execute(query)).all()]

    async def list(
        self, where: GrantFilter, *, now: datetime, offset: int, limit: int
    ) -> tuple[list[TechnicianAccess], int]:
        conditions: list[ColumnElement[bool]] = []
        if where.org_id is not None:
            conditions.append(col(TechnicianAccessRow.org_id) == where.org_id)
        if where.technician_id is not None:
            conditions.append(col(TechnicianAccessRow.technician_id) == where.technician_id)
        if where.status is not None:
            conditions.append(_status_is(where.status, now))
        return await _page(
            self._conn,
            select(TechnicianAccessRow)
            .where(*conditions)
            .order_by(col(TechnicianAccessRow.granted_at).desc(), col(TechnicianAccessRow.id)),
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
        await self._conn.execute(insert(RemoteAccessSessionRow).values(**_session_columns(session)))

    async def save(self, session: RemoteAccessSession) -> None:
        values = _session_columns(session)
        del values["id"]
        await self._conn.execute(
            update(RemoteAccessSessionRow)
            .where(col(RemoteAccessSessionRow.id) == session.id)
            .values(**values)
        )

    async def get(
        self, session_id: UUID, *, for_update: bool = False
    ) -> RemoteAccessSession | None:
        query = select(RemoteAccessSessionRow).where(col(RemoteAccessSessionRow.id) == session_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _session(row) if row else None

    async def active_in_grants(self, grant_ids: Sequence[UUID]) -> list[RemoteAccessSession]:
        """The active sessions opened under these grants, locked for ending."""
        if not grant_ids:
            return []
        query = (
            select(RemoteAccessSessionRow)
            .where(
                col(RemoteAccessSessionRow.grant_id).in_(list(grant_ids)),
                col(RemoteAccessSessionRow.status) == SessionStatus.ACTIVE.value,
            )
            .order_by(col(RemoteAccessSessionRow.started_at), col(RemoteAccessSessionRow.id))
            .with_for_update()
        )
        return [_session(row) for row in (await self._conn.execute(query)).all()]

    async def list(
        self, where: SessionFilter, *, offset: int, limit: int
    ) -> tuple[list[RemoteAccessSession], int]:
        conditions: list[ColumnElement[bool]] = []
        if where.org_id is not None:
            conditions.append(col(RemoteAccessSessionRow.org_id) == where.org_id)
        if where.technician_id is not None:
            conditions.append(col(RemoteAccessSessionRow.technician_id) == where.technician_id)
        if where.status is not None:
            conditions.append(col(RemoteAccessSessionRow.status) == where.status.value)
        return await _page(
            self._conn,
            select(RemoteAccessSessionRow)
            .where(*conditions)
            .order_by(
                col(RemoteAccessSessionRow.started_at).desc(), col(RemoteAccessSessionRow.id)
            ),
            offset=offset,
            limit=limit,
            convert=_session,
        )


# --- staff directory ----------------------------------------------------------------------


STAFF_DIRECTORY = "staff_directory"


class StaffDirectory:
    """Identity's users as far as access grants care: organization, role and status."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._users = uow.projection(STAFF_DIRECTORY)

    async def technician(self, user_id: UUID) -> StaffMember | None:
        """The user, for a rule that wants an active technician: one the directory lacks,
        or holds as anything else, is asked of identity first (at most once per id every
        few seconds), so a technician created or activated a moment ago counts; 503 when
        the directory lacks the user and identity cannot be asked."""
        return await self._users.find(
            user_id, lambda: self.get(user_id), accept=lambda member: member.is_active_technician
        )

    async def version_of(self, user_id: UUID) -> int | None:
        """The version of the user's state the directory holds."""
        return (
            await self._conn.execute(
                select(col(StaffDirectoryRow.version)).where(
                    col(StaffDirectoryRow.user_id) == user_id
                )
            )
        ).scalar_one_or_none()

    async def get(self, user_id: UUID) -> StaffMember | None:
        """The user as the directory holds it (no fetch)."""
        row = (
            await self._conn.execute(
                select(StaffDirectoryRow).where(col(StaffDirectoryRow.user_id) == user_id)
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
        statement = pg_insert(StaffDirectoryRow).values(
            user_id=user_id,
            org_id=org_id,
            role=role.value if role else None,
            status=status,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[col(StaffDirectoryRow.user_id)],
            set_={
                "org_id": statement.excluded.org_id,
                "role": func.coalesce(statement.excluded.role, col(StaffDirectoryRow.role)),
                "status": statement.excluded.status,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=col(StaffDirectoryRow.version) < statement.excluded.version,
        )
        applied = await self._conn.execute(statement.returning(col(StaffDirectoryRow.user_id)))
        return applied.first() is not None


async def _page(
    conn: AsyncConnection,
    rows_query: Select[Any],
    *,
    offset: int,
    limit: int,
    convert: Callable[[Row[Any]], T],
) -> tuple[list[T], int]:
    rows, total = await fetch_page(conn, rows_query, offset=offset, limit=limit)
    return [convert(row) for row in rows], total
