"""Users, sessions and the organization directory in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert

from mss_contracts.permissions import OrganizationType, Role
from mss_db import UnitOfWork
from mss_identity.adapters.tables import org_directory, user_sessions, users
from mss_identity.domain.users import OrgRef, User, UserStatus


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        org_id=row.org_id,
        email=row.email,
        password_hash=row.password_hash,
        first_name=row.first_name,
        last_name=row.last_name,
        role=Role(row.role),
        status=UserStatus(row.status),
        mfa_enabled=row.mfa_enabled,
        email_verified=row.email_verified,
        last_login_at=row.last_login_at,
        last_login_ip=str(row.last_login_ip) if row.last_login_ip is not None else None,
        failed_login_attempts=row.failed_login_attempts,
        locked_until=row.locked_until,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _org(row: Row[Any]) -> OrgRef:
    return OrgRef(id=row.id, name=row.name, type=OrganizationType(row.type), status=row.status)


class IdentityRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    # --- organizations (projection) ---------------------------------------------------

    async def org(self, org_id: UUID) -> OrgRef | None:
        row = (
            await self._conn.execute(select(org_directory).where(org_directory.c.id == org_id))
        ).first()
        return _org(row) if row else None

    async def upsert_org(
        self,
        *,
        org_id: UUID,
        name: str,
        type: str,
        status: str,
        settings: dict[str, Any],
        version: int,
    ) -> None:
        """Apply an organization event only if it is newer than what we hold."""
        values = {
            "id": org_id,
            "name": name,
            "type": type,
            "status": status,
            "settings": settings,
            "version": version,
        }
        statement = insert(org_directory).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[org_directory.c.id],
            set_={k: statement.excluded[k] for k in values if k != "id"},
            where=org_directory.c.version < statement.excluded.version,
        )
        await self._conn.execute(statement)

    # --- users ----------------------------------------------------------------------------

    async def user(self, user_id: UUID) -> User | None:
        row = (await self._conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row else None

    async def users_by_email(self, email: str) -> list[User]:
        rows = (
            await self._conn.execute(
                select(users).where(func.lower(users.c.email) == email).order_by(users.c.created_at)
            )
        ).all()
        return [_user(row) for row in rows]

    async def add_user(self, user: User, *, created_by: UUID | None) -> None:
        await self._conn.execute(
            insert(users).values(
                id=user.id,
                org_id=user.org_id,
                email=user.email,
                password_hash=user.password_hash,
                first_name=user.first_name,
                last_name=user.last_name,
                role=user.role.value,
                status=user.status.value,
                mfa_enabled=user.mfa_enabled,
                email_verified=user.email_verified,
                failed_login_attempts=0,
                version=user.version,
                created_at=user.created_at,
                updated_at=user.updated_at,
                created_by=created_by,
            )
        )

    async def record_login(self, user_id: UUID, *, at: datetime, ip: str | None) -> None:
        await self._conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(last_login_at=at, last_login_ip=ip, failed_login_attempts=0, locked_until=None)
        )

    async def record_failed_login(self, user_id: UUID) -> None:
        await self._conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(failed_login_attempts=users.c.failed_login_attempts + 1)
        )

    # --- sessions -------------------------------------------------------------------------

    async def add_session(
        self,
        *,
        session_id: UUID,
        user: User,
        refresh_hash: str,
        ip: str | None,
        user_agent: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._conn.execute(
            insert(user_sessions).values(
                id=session_id,
                user_id=user.id,
                org_id=user.org_id,
                refresh_token_hash=refresh_hash,
                ip_address=ip,
                user_agent=(user_agent or "")[:1000] or None,
                status="active",
                expires_at=expires_at,
                last_used_at=now,
                created_at=now,
            )
        )
