"""The user and organization projections (kept from identity's and organization's events,
misses filled from their internal reads) and the lookups the audience rules need."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from mss_contracts.permissions import Role
from mss_contracts.settings import OrgSettings, settings_of
from mss_db import UnitOfWork
from mss_notification.adapters.tables import OrgDirectoryRow, UserDirectoryRow

USER_DIRECTORY = "user_directory"
ORG_DIRECTORY = "org_directory"
ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    user_id: UUID
    org_id: UUID
    email: str
    first_name: str
    role: Role | None
    status: str

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True, slots=True)
class DirectoryOrg:
    org_id: UUID
    type: str
    status: str
    settings: OrgSettings


def _user(row: Any) -> DirectoryUser:
    return DirectoryUser(
        user_id=row.user_id,
        org_id=row.org_id,
        email=row.email,
        first_name=row.first_name,
        role=Role(row.role) if row.role else None,
        status=row.status,
    )


class Directory:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._users = uow.projection(USER_DIRECTORY)
        self._orgs = uow.projection(ORG_DIRECTORY)

    async def upsert_user(
        self,
        *,
        user_id: UUID,
        org_id: UUID,
        email: str,
        first_name: str,
        last_name: str,
        role: Role | None,
        status: str,
        version: int,
    ) -> bool:
        """Keep the newest version only (True when kept); a missing role keeps the known one."""
        statement = insert(UserDirectoryRow).values(
            user_id=user_id,
            org_id=org_id,
            email=email,
            first_name=first_name,
            last_name=last_name,
            role=role.value if role else None,
            status=status,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[col(UserDirectoryRow.user_id)],
            set_={
                "org_id": statement.excluded.org_id,
                "email": statement.excluded.email,
                "first_name": statement.excluded.first_name,
                "last_name": statement.excluded.last_name,
                "role": func.coalesce(statement.excluded.role, col(UserDirectoryRow.role)),
                "status": statement.excluded.status,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=col(UserDirectoryRow.version) < statement.excluded.version,
        )
        kept = await self._conn.execute(statement.returning(col(UserDirectoryRow.user_id)))
        return kept.first() is not None

    async def upsert_org(
        self, *, org_id: UUID, type: str, status: str, settings: dict[str, Any], version: int
    ) -> bool:
        statement = insert(OrgDirectoryRow).values(
            org_id=org_id,
            type=type,
            status=status,
            settings=settings,
            version=version,
            updated_at=func.now(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[col(OrgDirectoryRow.org_id)],
            set_={
                "type": statement.excluded.type,
                "status": statement.excluded.status,
                "settings": statement.excluded.settings,
                "version": statement.excluded.version,
                "updated_at": statement.excluded.updated_at,
            },
            where=col(OrgDirectoryRow.version) < statement.excluded.version,
        )
        kept = await self._conn.execute(statement.returning(col(OrgDirectoryRow.org_id)))
        return kept.first() is not None

    async def user(self, user_id: UUID) -> DirectoryUser | None:
        """The user, asked of identity when the projection lacks it (a user created a
        moment ago is told at once)."""
        return await self._users.find(user_id, lambda: self.held_user(user_id))

    async def held_user(self, user_id: UUID) -> DirectoryUser | None:
        row = (
            await self._conn.execute(
                select(UserDirectoryRow).where(col(UserDirectoryRow.user_id) == user_id)
            )
        ).first()
        return None if row is None else _user(row)

    async def org(self, org_id: UUID) -> DirectoryOrg | None:
        """The organization, asked of its owner when the projection lacks it."""
        return await self._orgs.find(org_id, lambda: self.held_org(org_id))

    async def held_org(self, org_id: UUID) -> DirectoryOrg | None:
        return (await self.held_orgs([org_id])).get(org_id)

    async def held_orgs(self, org_ids: Collection[UUID]) -> dict[UUID, DirectoryOrg]:
        """Those of the organizations the projection holds, in one statement."""
        if not org_ids:
            return {}
        rows = (
            await self._conn.execute(
                select(OrgDirectoryRow).where(col(OrgDirectoryRow.org_id).in_(list(org_ids)))
            )
        ).all()
        return {
            row.org_id: DirectoryOrg(
                org_id=row.org_id,
                type=row.type,
                status=row.status,
                settings=settings_of(row.settings),
            )
            for row in rows
        }

    async def holders(
        self, roles: Iterable[Role], *, org_id: UUID | None = None
    ) -> list[DirectoryUser]:
        """The active users holding one of `roles` (in `org_id` when given)."""
        return await self.holders_in(roles, org_ids=None if org_id is None else [org_id])

    async def holders_in(
        self, roles: Iterable[Role], *, org_ids: Collection[UUID] | None
    ) -> list[DirectoryUser]:
        """The active users holding one of `roles` in any of `org_ids` (None: anywhere),
        ordered by user id, in one statement."""
        query = select(UserDirectoryRow).where(
            col(UserDirectoryRow.role).in_(sorted(r.value for r in roles)),
            col(UserDirectoryRow.status) == ACTIVE,
        )
        if org_ids is not None:
            query = query.where(col(UserDirectoryRow.org_id).in_(list(org_ids)))
        rows = (await self._conn.execute(query.order_by(col(UserDirectoryRow.user_id)))).all()
        return [_user(row) for row in rows]
