"""The interventions read model: the intervention service's interventions as counted here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert

from mss_db import UnitOfWork
from mss_security.adapters.tables import InterventionViewRow

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


class InterventionsView:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

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
