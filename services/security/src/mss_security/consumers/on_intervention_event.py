"""Keep the interventions read model in step with the intervention service."""

from __future__ import annotations

from mss_contracts.events import EVENT_TYPES, EventEnvelope, InterventionSnapshot, parse_data
from mss_db import UnitOfWork
from mss_security.application.interventions import record_intervention

BINDINGS = ["intervention.#"]


async def on_intervention_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Effect for `apply_once`: the newest version of an intervention wins."""
    if envelope.type not in EVENT_TYPES or envelope.organization_id is None:
        return
    data = parse_data(envelope)
    if not isinstance(data, InterventionSnapshot):
        return
    await record_intervention(
        uow,
        intervention_id=envelope.aggregate_id,
        org_id=envelope.organization_id,
        data=data,
        at=envelope.metadata.timestamp,
        version=envelope.metadata.version,
    )
