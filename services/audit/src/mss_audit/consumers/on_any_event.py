"""Every event of the platform lands here: stored, then appended to its org's chain.

Technician access events also update the audit service's grants projection, which
scopes technicians' reads of audit logs.
"""

from __future__ import annotations

from collections.abc import Sequence

from mss_audit.application.records import record_event, record_events
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_grants import apply_grant_event

BINDINGS = ["#"]


async def on_any_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    await record_event(uow, envelope)
    if envelope.type.startswith("technician_access."):
        await apply_grant_event(uow, envelope)


async def on_event_batch(uow: UnitOfWork, envelopes: Sequence[EventEnvelope]) -> None:
    """`on_any_event` for a batch (the batch consumer's effect), in one transaction."""
    await record_events(uow, envelopes)
    for envelope in envelopes:
        if envelope.type.startswith("technician_access."):
            await apply_grant_event(uow, envelope)
