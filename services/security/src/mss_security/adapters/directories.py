"""The user and organization directories: other services' entities as alerts need them."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mss_contracts.permissions import Role
from mss_db import UnitOfWork
from mss_security.adapters.tables import OrgDirectoryRow, UserDirectoryRow
from mss_security.domain.directory import DirectoryOrganization, DirectoryUser

USER_DIRECTORY = "user_directory"
ORG_DIRECTORY = "org_directory"

USERS = UserDirectoryRow.__table__
ORGS = OrgDirectoryRow.__table__


class UserDirectory:
    """Identity's users: who may be assigned alerts."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._source = uow.projection(USER_DIRECTORY)

    async def assignable(self, user_id: UUID) -> DirectoryUser | None:
        """The user, asked of identity first when the directory lacks it or holds it as
        unassignable (a user promoted a moment ago counts); 503 when identity is down."""
        return await self._source.find(
            user_id, lambda: self.get(user_id), accept=lambda user: user.may_work_alerts
        )

    async def get(self, user_id: UUID) -> DirectoryUser | None:
        row = (await self._conn.execute(select(USERS).where(USERS.c.user_id == user_id))).first()
        if row is None:
            return None
        return DirectoryUser(
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
        statement = pg_insert(USERS).values(
            user_id=user_id,
            org_id=org_id,
            role=role.value if role else None,
            status=status,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[USERS.c.user_id],
            set_={
                "org_id": statement.excluded.org_id,
                "role": func.coalesce(statement.excluded.role, USERS.c.role),
                "status": statement.excluded.status,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=USERS.c.version < statement.excluded.version,
        )
        applied = await self._conn.execute(statement.returning(USERS.c.user_id))
        return applied.first() is not None


class OrgDirectory:
    """The organization service's organizations: which accept alerts, and their quota."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._source = uow.projection(ORG_DIRECTORY)

    async def receiving(self, org_id: UUID) -> DirectoryOrganization | None:
        """The organization, asked of its owner first when missing or not accepting alerts
        here (created or reactivated a moment ago); 503 when the owner cannot be asked."""
        return await self._source.find(
            org_id, lambda: self.get(org_id), accept=lambda org: org.accepts_alerts
        )

    async def get(self, org_id: UUID) -> DirectoryOrganization | None:
        row = (await self._conn.execute(select(ORGS).where(ORGS.c.org_id == org_id))).first()
        if row is None:
            return None
        return DirectoryOrganization(
            org_id=row.org_id,
            type=row.type,
            status=row.status,
            alert_quota_per_minute=row.alert_quota_per_minute,
            version=row.version,
        )

    async def name_of(self, org_id: UUID) -> str | None:
        """The organization's name as last heard (reports print it); None when unknown."""
        found = await self._conn.execute(select(ORGS.c.name).where(ORGS.c.org_id == org_id))
        return found.scalar_one_or_none()

    async def active_customers(self) -> list[UUID]:
        """Every active customer organization in the caller's scope (the monthly drafts)."""
        rows = await self._conn.execute(
            select(ORGS.c.org_id)
            .where(ORGS.c.type == "customer", ORGS.c.status == "active")
            .order_by(ORGS.c.org_id)
        )
        return list(rows.scalars())

    async def upsert(
        self,
        *,
        org_id: UUID,
        type: str,
        status: str,
        alert_quota_per_minute: int,
        version: int,
        name: str = "",
    ) -> bool:
        """Keep the newest version only (True when applied)."""
        statement = pg_insert(ORGS).values(
            org_id=org_id,
            name=name,
            type=type,
            status=status,
            alert_quota_per_minute=alert_quota_per_minute,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[ORGS.c.org_id],
            set_={
                "name": statement.excluded.name,
                "type": statement.excluded.type,
                "status": statement.excluded.status,
                "alert_quota_per_minute": statement.excluded.alert_quota_per_minute,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=ORGS.c.version < statement.excluded.version,
        )
        applied = await self._conn.execute(statement.returning(ORGS.c.org_id))
        return applied.first() is not None
