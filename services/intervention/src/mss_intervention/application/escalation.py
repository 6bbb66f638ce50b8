"""An escalated alert becomes an intervention with the id the alert's event names."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import AlertEscalated, EventContext
from mss_contracts.interventions import InterventionType, Priority
from mss_db import UnitOfWork
from mss_intervention.adapters.repository import InterventionRepository
from mss_intervention.application.interventions import RequestIntervention, request_intervention
from mss_intervention.domain.intervention import Intervention


async def intervention_from_alert(
    *, alert_id: UUID, org_id: UUID, data: AlertEscalated, uow: UnitOfWork, ctx: EventContext
) -> Intervention:
    """Idempotent: the intervention id is the alert's choice, so a second escalation event
    for it (a redelivery the inbox has not seen, a replay) finds it made already."""
    existing = await InterventionRepository(uow).get(data.escalated_intervention_id)
    if existing is not None:
        return existing
    cmd = RequestIntervention(
        org_id=org_id,
        title=data.intervention_title[:255],
        description=data.intervention_description or data.intervention_title,
        priority=Priority(data.priority),
        type=InterventionType(data.intervention_type),
        requested_by=data.requested_by,
        intervention_id=data.escalated_intervention_id,
        source_alert_id=alert_id,
    )
    # request_intervention commits; apply_once's inbox row goes in the same transaction.
    return await request_intervention(cmd, uow=uow, ctx=ctx)
