"""Announcing a change of one of our aggregates: its event into the outbox, same transaction."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from mss_contracts.events import EventContext, EventData, EventEnvelope, new_event
from mss_db import UnitOfWork


class Aggregate(Protocol):
    """What an event needs of the changed thing: which it is, whose, and which version."""

    @property
    def id(self) -> UUID: ...

    @property
    def org_id(self) -> UUID: ...

    @property
    def version(self) -> int: ...


async def emit(
    uow: UnitOfWork, aggregate: Aggregate, data: EventData, ctx: EventContext
) -> EventEnvelope:
    envelope = new_event(
        data,
        aggregate_id=aggregate.id,
        organization_id=aggregate.org_id,
        version=aggregate.version,
        context=ctx,
    )
    await uow.outbox.add(envelope)
    return envelope
