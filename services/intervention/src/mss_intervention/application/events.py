"""Announcing a change of an intervention: its event into the outbox, same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from mss_contracts.events import (
    EventContext,
    EventData,
    EventEnvelope,
    InterventionSlaBreached,
    InterventionSnapshot,
    new_event,
)
from mss_db import UnitOfWork
from mss_intervention.adapters.repository import InterventionRepository
from mss_intervention.domain.intervention import BreachKind, Intervention

S = TypeVar("S", bound=InterventionSnapshot)


class Aggregate(Protocol):
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


def snapshot_fields(item: Intervention) -> dict[str, Any]:
    """The state every intervention event carries (InterventionSnapshot)."""
    return {
        "title": item.title,
        "priority": item.priority.value,
        "status": item.status.value,
        "type": item.type.value,
        "requested_by": item.requested_by,
        "assigned_to": item.assigned_to,
        "estimated_hours": item.estimated_hours,
        "actual_hours": item.actual_hours,
        "scheduled_for": item.scheduled_for,
        "completed_at": item.completed_at,
        "cancelled_at": item.cancelled_at,
        "source_alert_id": item.source_alert_id,
        "response_due_at": item.response_due_at,
        "resolution_due_at": item.resolution_due_at,
        "responded_at": item.responded_at,
    }


def snapshot(event: type[S], item: Intervention) -> S:
    return event(**snapshot_fields(item))


def breach_events(
    item: Intervention, now: datetime, ctx: EventContext
) -> tuple[Intervention, list[EventEnvelope]]:
    """`item` with every deadline that passed unmet recorded, and one event for each."""
    events = []
    for kind in item.due_breaches(now):
        item = item.record_breach(kind, now)
        due_at = item.response_due_at if kind is BreachKind.RESPONSE else item.resolution_due_at
        data = InterventionSlaBreached(**snapshot_fields(item), kind=kind.value, due_at=due_at)
        events.append(
            new_event(
                data,
                aggregate_id=item.id,
                organization_id=item.org_id,
                version=item.version,
                context=ctx,
            )
        )
    return item, events


async def announce_breaches(
    uow: UnitOfWork, item: Intervention, now: datetime, ctx: EventContext
) -> Intervention:
    """Record and announce every deadline of `item` that passed unmet, once each.

    The caller holds the row locked, so the clock and a step never announce one twice.
    """
    after, events = breach_events(item, now, ctx)
    if events:
        await InterventionRepository(uow).save(after)
        await uow.outbox.add_all(events)
    return after
