"""The interventions read model: the intervention service's interventions as counted here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mss_db import UnitOfWork
from mss_security.adapters.tables import InterventionViewRow

INTERVENTIONS_VIEW = "interventions_view"
INTERVENTIONS = InterventionViewRow.__table__
V = INTERVENTIONS.c


@dataclass(frozen=True, slots=True)
class InterventionState:
    """One intervention after an event (or as its owner answered)."""

    id: UUID
    org_id: UUID
    title: str
    priority: str
    status: str
    type: str
    actual_hours: float
    completed_at: datetime | None
    cancelled_at: datetime | None
    response_due_at: datetime
    resolution_due_at: datetime
    responded_at: datetime | None
    response_breached: bool
    resolution_breached: bool
    at: datetime  # when this state arose (the event's timestamp)
    version: int


# Interventions escalated from the period's alerts that the read model has not heard of.
_UNHEARD = text(
    """
    SELECT DISTINCT a.intervention_id FROM security.alerts a
    WHERE a.org_id = :org_id AND a.last_seen_at >= :start AND a.last_seen_at < :end
      AND a.intervention_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM security.interventions_view v
                      WHERE v.id = a.intervention_id)
    LIMIT :limit
    """
)


class InterventionsView:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn
        self._source = uow.projection(INTERVENTIONS_VIEW)

    async def exists(self, intervention_id: UUID) -> bool | None:
        found = await self._conn.execute(select(V.id).where(V.id == intervention_id))
        return True if found.first() is not None else None

    async def fill_escalated(
        self, org_id: UUID, start: datetime, end: datetime, *, limit: int = 100
    ) -> int:
        """Ask the intervention service for the period's escalations the events have not
        brought yet (read-your-writes for a report drafted right after an escalation)."""
        params = {"org_id": org_id, "start": start, "end": end, "limit": limit}
        unheard = list((await self._conn.execute(_UNHEARD, params)).scalars())
        for intervention_id in unheard:
            await self._source.find(intervention_id, self._exists_of(intervention_id))
        return len(unheard)

    def _exists_of(self, intervention_id: UUID) -> Callable[[], Awaitable[bool | None]]:
        async def load() -> bool | None:
            return await self.exists(intervention_id)

        return load

    async def upsert(self, state: InterventionState) -> bool:
        """Keep the newest version only (True when applied). A breach once seen stays."""
        statement = pg_insert(INTERVENTIONS).values(
            id=state.id,
            org_id=state.org_id,
            title=state.title,
            priority=state.priority,
            status=state.status,
            type=state.type,
            actual_hours=state.actual_hours,
            completed_at=state.completed_at,
            cancelled_at=state.cancelled_at,
            response_due_at=state.response_due_at,
            resolution_due_at=state.resolution_due_at,
            responded_at=state.responded_at,
            response_breached=state.response_breached,
            resolution_breached=state.resolution_breached,
            requested_at=state.at,
            updated_at=state.at,
            version=state.version,
        )
        x = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[V.id],
            set_={
                "title": x.title,
                "priority": x.priority,
                "status": x.status,
                "type": x.type,
                "actual_hours": x.actual_hours,
                "completed_at": x.completed_at,
                "cancelled_at": x.cancelled_at,
                "response_due_at": x.response_due_at,
                "resolution_due_at": x.resolution_due_at,
                "responded_at": x.responded_at,
                "response_breached": V.response_breached | x.response_breached,
                "resolution_breached": V.resolution_breached | x.resolution_breached,
                # The earliest moment heard of is the closest to its request.
                "requested_at": func.least(V.requested_at, x.requested_at),
                "updated_at": x.updated_at,
                "version": x.version,
            },
            where=V.version < x.version,
        )
        applied = await self._conn.execute(statement.returning(V.id))
        return applied.first() is not None
