"""organization.* → the organization directory (type, status, SLA settings)."""

from __future__ import annotations

from mss_contracts.events import EventEnvelope, OrganizationSnapshot, parse_data
from mss_db import UnitOfWork
from mss_intervention.application.directory import record_organization

BINDINGS = ["organization.*"]


async def on_organization_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    data = parse_data(envelope)
    if isinstance(data, OrganizationSnapshot):
        await record_organization(uow, envelope.aggregate_id, data, envelope.metadata.version)
