"""Organizations in PostgreSQL; every query runs inside a tenant-scoped unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Row, insert, or_, update
from sqlmodel import col, select

from mss_contracts.permissions import OrganizationType
from mss_db import UnitOfWork
from mss_db.pages import fetch_page
from mss_db.scope import in_scope
from mss_organization.adapters.tables import OrganizationRow
from mss_organization.domain.organization import Organization, OrganizationStatus


def _to_domain(row: Row[Any]) -> Organization:
    return Organization(
        id=row.id,
        name=row.name,
        type=OrganizationType(row.type),
        domain=row.domain,
        sso_enabled=row.sso_enabled,
        status=OrganizationStatus(row.status),
        settings=dict(row.settings),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
    )


def _columns(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "type": org.type.value,
        "domain": org.domain,
        "sso_enabled": org.sso_enabled,
        "status": org.status.value,
        "settings": org.settings,
        "version": org.version,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
        "created_by": org.created_by,
    }


@dataclass(frozen=True, slots=True)
class OrganizationFilter:
    type: OrganizationType | None = None
    status: OrganizationStatus | None = None
    q: str | None = None


class OrganizationRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._scope = uow.scope

    async def get(self, org_id: UUID, *, for_update: bool = False) -> Organization | None:
        query = select(OrganizationRow).where(col(OrganizationRow.id) == org_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return _to_domain(row) if row else None

    async def provider(self) -> Organization | None:
        query = select(OrganizationRow).where(
            col(OrganizationRow.type) == OrganizationType.MSS_PROVIDER.value
        )
        row = (await self._conn.execute(query)).first()
        return _to_domain(row) if row else None

    async def add(self, org: Organization) -> None:
        await self._conn.execute(insert(OrganizationRow).values(**_columns(org)))

    async def save(self, org: Organization) -> None:
        values = _columns(org)
        del values["id"]
        await self._conn.execute(
            update(OrganizationRow).where(col(OrganizationRow.id) == org.id).values(**values)
        )

    async def list(
        self, where: OrganizationFilter, *, offset: int, limit: int
    ) -> tuple[list[Organization], int]:
        conditions = [in_scope(col(OrganizationRow.id), self._scope)]
        if where.type is not None:
            conditions.append(col(OrganizationRow.type) == where.type.value)
        if where.status is not None:
            conditions.append(col(OrganizationRow.status) == where.status.value)
        if where.q:
            pattern = (
                "%" + where.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            conditions.append(
                or_(
                    col(OrganizationRow.name).ilike(pattern),
                    col(OrganizationRow.domain).ilike(pattern),
                )
            )
        rows, total = await fetch_page(
            self._conn,
            select(OrganizationRow)
            .where(*conditions)
            .order_by(col(OrganizationRow.created_at).desc(), col(OrganizationRow.id)),
            offset=offset,
            limit=limit,
        )
        return [_to_domain(row) for row in rows], total
