"""Answer a technician's granted organizations from a table of grants.

The organization service reads its own grants table. Every other service reads its
projection, refreshed from the owner first (`RefreshedGrantLookup`): a grant made a moment
ago, whose event is still on its way, counts on the technician's next request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mss_contracts.access import GrantTerms
from mss_contracts.internal import TechnicianGrants
from mss_db.engine import begin_scoped, end_scoped
from mss_db.scope import OrgScope
from mss_projections import ProjectionSource


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
        # The lookup itself must see every organization's grants for this technician.
        conn = await begin_scoped(self._engine, OrgScope.everything())
        try:
            rows = await conn.execute(self._query, {"technician": technician_id, "now": now})
            return frozenset(
                row.org_id for row in rows if _terms(row._mapping).refusal(now=now, ip=ip) is None
            )
        finally:
            await end_scoped(conn)


class RefreshedGrantLookup:
    """A projection's lookup that asks the owner for the technician's grants first.

    At most one fetch per technician per `ProjectionSource` interval (2 s) and process,
    shared by concurrent requests, so a busy technician costs the owner one small read
    every two seconds per process. Worst case: a grant made less than the interval after
    this process last refreshed the technician counts once its `granted` event is applied
    (normally within tens of milliseconds) or at the first request after the interval,
    whichever comes first, so never later than 2 s while the owner is up. A revocation
    travels the same two ways. When the owner does not answer, the projection answers as
    the events left it: a grant it has not heard of does not count (fail closed), and
    what it holds was true when its event was written.
    """

    def __init__(self, table: TableGrantLookup, source: ProjectionSource[TechnicianGrants]) -> None:
        self._table = table
        self._source = source

    async def granted_orgs(
        self, technician_id: UUID, *, ip: str | None, now: datetime
    ) -> frozenset[UUID]:
        await self._source.fetch(technician_id)
        return await self._table.granted_orgs(technician_id, ip=ip, now=now)


def _terms(row: Any) -> GrantTerms:
    return GrantTerms.model_validate(
        {
            "expiresAt": row["expires_at"],
            "allowedServices": row["allowed_services"],
            "ipRestrictions": row["ip_restrictions"],
            "timeRestrictions": row["time_restrictions"],
        }
    )
