"""The intervention worker: relays the outbox, keeps its projections, creates interventions
from escalated alerts, and runs the SLA clock."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_grants import GRANT_BINDINGS, apply_grant_event
from mss_intervention.application.sla import run_sla_clock
from mss_intervention.config import SERVICE
from mss_intervention.consumers import (
    on_alert_escalated,
    on_organization_event,
    on_remote_access_event,
)
from mss_intervention.main import build_runtime
from mss_service import ServiceRuntime

# Routing-key prefix → the effect for events under it.
EFFECTS = {
    "organization.": on_organization_event.on_organization_event,
    "technician_access.": apply_grant_event,
    "remote_access.session.": on_remote_access_event.on_remote_access_event,
    "security.alert.escalated": on_alert_escalated.on_alert_escalated,
}
BINDINGS = [
    *on_organization_event.BINDINGS,
    *GRANT_BINDINGS,
    *on_remote_access_event.BINDINGS,
    *on_alert_escalated.BINDINGS,
]


async def apply_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Runs inside `apply_once`: the inbox row and this effect commit together."""
    for prefix, effect in EFFECTS.items():
        if envelope.type.startswith(prefix):
            await effect(uow, envelope)
            return


def consumer_of(runtime: ServiceRuntime) -> EventConsumer:
    """The service's queue, each event applied once (inbox) with its effect."""

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, apply_event)

    return EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)


async def run() -> None:
    runtime = build_runtime()
    consumer = consumer_of(runtime)
    try:
        await consumer.start()
        await asyncio.gather(runtime.relay().run(), watch_dlq(consumer), run_sla_clock(runtime.uow))
    finally:
        await runtime.close()
