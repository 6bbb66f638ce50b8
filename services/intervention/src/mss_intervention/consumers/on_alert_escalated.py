"""security.alert.escalated → the intervention the event names, requested by the escalator."""

from __future__ import annotations

from mss_contracts.events import AlertEscalated, EventContext, EventEnvelope, parse_data
from mss_db import UnitOfWork
from mss_intervention.application.escalation import intervention_from_alert

BINDINGS = ["security.alert.escalated"]


async def on_alert_escalated(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    data = parse_data(envelope)
    if not isinstance(data, AlertEscalated) or envelope.organization_id is None:
        return
    ctx = EventContext(
        user_id=data.requested_by,
        session_id=envelope.metadata.session_id,
        correlation_id=envelope.metadata.correlation_id,
        causation_id=envelope.id,
    )
    await intervention_from_alert(
        alert_id=envelope.aggregate_id,
        org_id=envelope.organization_id,
        data=data,
        uow=uow,
        ctx=ctx,
    )
