"""The interventions read model's one write, for events (and, later, fetched records)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from mss_contracts.events import InterventionSlaBreached, InterventionSnapshot
from mss_contracts.internal import InterventionRecord
from mss_db import UnitOfWork
from mss_security.adapters.interventions import InterventionState, InterventionsView


async def record_intervention(
    uow: UnitOfWork,
    *,
    intervention_id: UUID,
    org_id: UUID,
    data: InterventionSnapshot,
    at: datetime,
    version: int,
) -> bool:
    """Keep the intervention's state if newer than what the read model holds."""
    breach = data.kind if isinstance(data, InterventionSlaBreached) else None
    return await InterventionsView(uow).upsert(
        InterventionState(
            id=intervention_id,
            org_id=org_id,
            title=data.title,
            priority=data.priority,
            status=data.status,
            type=data.type,
            actual_hours=data.actual_hours,
            completed_at=data.completed_at,
            cancelled_at=data.cancelled_at,
            response_due_at=data.response_due_at,
            resolution_due_at=data.resolution_due_at,
            responded_at=data.responded_at,
            response_breached=breach == "response"
            or (data.responded_at is not None and data.responded_at > data.response_due_at),
            resolution_breached=breach == "resolution"
            or (data.completed_at is not None and data.completed_at > data.resolution_due_at),
            at=at,
            version=version,
        )
    )


async def record_fetched_intervention(uow: UnitOfWork, record: InterventionRecord) -> None:
    """A projection miss filled from the intervention service's internal read."""
    await InterventionsView(uow).upsert(
        InterventionState(
            id=record.id,
            org_id=record.organization_id,
            title=record.title,
            priority=record.priority,
            status=record.status,
            type=record.type,
            actual_hours=record.actual_hours,
            completed_at=record.completed_at,
            cancelled_at=record.cancelled_at,
            response_due_at=record.response_due_at,
            resolution_due_at=record.resolution_due_at,
            responded_at=record.responded_at,
            response_breached=record.response_breached,
            resolution_breached=record.resolution_breached,
            at=record.created_at,
            version=record.version,
        )
    )
