"""What the intervention service keeps of other services: organizations (with their SLA
settings) and the remote-access sessions that name an intervention."""

from __future__ import annotations

from uuid import UUID

from mss_contracts.events import (
    EventEnvelope,
    OrganizationSnapshot,
    RemoteAccessEnded,
    RemoteAccessStarted,
    parse_data,
)
from mss_contracts.internal import OrganizationRecord
from mss_db import UnitOfWork
from mss_intervention.adapters.repository import (
    InterventionRepository,
    OrgDirectory,
    RemoteSessions,
)


async def record_organization(
    uow: UnitOfWork, org_id: UUID, state: OrganizationSnapshot, version: int
) -> None:
    """Keep `state` if newer than what the directory holds: events and fetches alike."""
    await OrgDirectory(uow).record(
        org_id=org_id,
        name=state.name,
        type=state.type.value,
        status=state.status,
        settings=state.settings,
        version=version,
    )


async def record_fetched_organization(uow: UnitOfWork, record: OrganizationRecord) -> None:
    """A projection miss filled from `GET /internal/organizations/{id}`."""
    await record_organization(uow, record.id, record, record.version)


async def record_remote_session(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """A session naming an intervention of its own organization shows on it. Either event
    may come first (a start redelivered after its end): each carries the whole session,
    and the version guard keeps the later state."""
    data = parse_data(envelope)
    org_id = envelope.organization_id
    if org_id is None or not isinstance(data, RemoteAccessStarted | RemoteAccessEnded):
        return
    at, version = envelope.metadata.timestamp, envelope.metadata.version
    sessions = RemoteSessions(uow)
    if data.intervention_id is None:
        if isinstance(data, RemoteAccessEnded):
            # Ends published before the event repeated the intervention: end what we hold.
            await sessions.end(session_id=envelope.aggregate_id, at=at, version=version)
        return
    item = await InterventionRepository(uow).get(data.intervention_id)
    if item is None or item.org_id != org_id:
        return  # not ours, or another organization's: never attach across tenants
    if isinstance(data, RemoteAccessEnded):
        started_at, ended_at = data.started_at or at, at
    else:
        started_at, ended_at = at, None
    await sessions.record(
        session_id=envelope.aggregate_id,
        org_id=org_id,
        intervention_id=item.id,
        technician_id=data.technician_id,
        service=data.service,
        started_at=started_at,
        ended_at=ended_at,
        version=version,
    )
