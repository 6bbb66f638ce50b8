"""Answer a technician's granted organizations from a table of grants."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mss_contracts.access import GrantTerms
from mss_db.scope import OrgScope, apply_scope


class TableGrantLookup:
    """Reads `schema.table`: the organization service's grants or a service's projection.

    The table needs the columns org_id, technician_id, status, expires_at,
    allowed_services, ip_restrictions and time_restrictions (jsonb for the last three).
    """

    def __init__(self, engine: AsyncEngine, schema: str, table: str) -> None:
        self._engine = engine
        columns = "org_id, expires_at, allowed_services, ip_restrictions, time_restrictions"
        self._query = text(
            f"SELECT {columns} FROM {schema}.{table} "  # noqa: S608 - our own identifiers
            "WHERE technician_id = :technician AND status = 'active' AND expires_at > :now"
        )

    async def granted_orgs(
        self, technician_id: UUID, *, ip: str | None, now: datetime
    ) -> frozenset[UUID]:
        async with self._engine.connect() as conn, conn.begin():
            # The lookup itself must see every organization's grants for this technician.
            await apply_scope(conn, OrgScope.everything())
            rows = await conn.execute(self._query, {"technician": technician_id, "now": now})
            return frozenset(
                row.org_id for row in rows if _terms(row._mapping).refusal(now=now, ip=ip) is None
            )


def _terms(row: Any) -> GrantTerms:
    return GrantTerms.model_validate(
        {
            "expiresAt": row["expires_at"],
            "allowedServices": row["allowed_services"],
            "ipRestrictions": row["ip_restrictions"],
            "timeRestrictions": row["time_restrictions"],
        }
    )
