"""Keep identity's organization directory in step with the organization service."""

from __future__ import annotations

from mss_contracts.events import EVENT_TYPES, EventEnvelope, OrganizationSnapshot, parse_data
from mss_db import UnitOfWork
from mss_identity.adapters.repository import IdentityRepository

BINDINGS = ["organization.*"]


async def on_organization_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    if envelope.type not in EVENT_TYPES:
        return  # a newer event type than this build knows: nothing to apply
    data = parse_data(envelope)
    if not isinstance(data, OrganizationSnapshot):
        return
    await IdentityRepository(uow).upsert_org(
        org_id=envelope.aggregate_id,
        name=data.name,
        type=data.type.value,
        status=data.status,
        settings=data.settings,
        version=envelope.metadata.version,
    )
